"""Assemble a robot's simulation model: its MJCF + position actuators with the registry's PD gains,
a floor, a light, sole sites and keypoint sites; then derive the standing pose on the floor."""

from __future__ import annotations

import mujoco
import numpy as np

from mimicsim.assets.robot_config import RobotConfig
from mimicsim.assets.robot_spec import RobotSpec
from mimicsim.errors import ConfigError

SOLE_SITE = "{side}_sole"
KEYPOINT_SITE = "kp_{joint}"
_FLOOR_CLEARANCE = 0.001  # metres between the lowest collision point and the floor


def build_robot(config: RobotConfig) -> RobotSpec:
    spec = mujoco.MjSpec.from_file(str(config.model_path()))
    joints = [j for j in spec.joints if j.type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)]
    efforts = _effort_limits(spec)
    for actuator in list(spec.actuators):
        spec.delete(actuator)
    for key in list(spec.keys):
        spec.delete(key)
    kp, kd = _gains(config, [j.name for j in joints])
    for joint in joints:
        armature = next((value for pattern, value in config.armature if pattern in joint.name), None)
        if armature is not None:
            joint.armature = armature
    for joint, p, d in zip(joints, kp, kd, strict=True):
        act = spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=p, kv=d)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.ctrlrange = joint.range
        effort = efforts.get(joint.name)
        if effort is not None:
            act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.forcerange = [-effort, effort]
    # Implicit damping keeps stiff PD servos stable at the robot's own timestep.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    _add_floor_and_light(spec)
    for joint_name, kp_def in config.keypoints.items():
        _body(spec, config, kp_def.body).add_site(
            name=KEYPOINT_SITE.format(joint=joint_name),
            pos=list(kp_def.offset),
            size=[0.015, 0, 0],
            group=5,
            rgba=[1, 0.3, 0.1, 1],
        )

    model = spec.compile()
    qpos = _default_qpos(config, model)
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    for side, body_name in zip(("left", "right"), config.feet, strict=True):
        centre = _sole_centre(model, data, body_name)
        _body(spec, config, body_name).add_site(
            name=SOLE_SITE.format(side=side), pos=centre, size=[0.01, 0, 0], group=5, rgba=[0.1, 0.8, 0.1, 1]
        )
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    lowest, _ = _z_extent(model, data, collision_only=True)
    qpos[2] -= lowest - _FLOOR_CLEARANCE
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    _, highest = _z_extent(model, data, collision_only=False)

    joint_ids = [model.joint(j.name).id for j in joints]
    lower, upper = model.jnt_range[joint_ids].T.copy()
    effort_limit = np.array([efforts.get(j.name, np.inf) for j in joints])
    return RobotSpec(
        name=config.name,
        model=model,
        config=config,
        joint_names=tuple(j.name for j in joints),
        qpos_adr=model.jnt_qposadr[joint_ids].copy(),
        qvel_adr=model.jnt_dofadr[joint_ids].copy(),
        lower=lower,
        upper=upper,
        effort_limit=effort_limit,
        velocity_limit=np.full(len(joints), config.velocity_limit),
        kp=kp,
        kd=kd,
        default_qpos=qpos,
        standing_height=float(highest),
        mass=float(model.body_subtreemass[0]),
        sole_sites=(SOLE_SITE.format(side="left"), SOLE_SITE.format(side="right")),
        keypoint_sites={j: KEYPOINT_SITE.format(joint=j) for j in config.keypoints},
    )


def _effort_limits(spec: mujoco.MjSpec) -> dict[str, float]:
    """Torque limit per joint: the joint's actuatorfrcrange, else the original actuator's range
    (a motor's ctrlrange with gear 1 is its torque range; a position servo's forcerange)."""
    limits: dict[str, float] = {}
    for joint in spec.joints:
        if np.any(joint.actfrcrange):
            limits[joint.name] = float(np.max(np.abs(joint.actfrcrange)))
    for act in spec.actuators:
        rng = act.forcerange if np.any(act.forcerange) else act.ctrlrange * act.gear[0]
        if act.target not in limits and np.any(rng):
            limits[act.target] = float(np.max(np.abs(rng)))
    return limits


def _gains(config: RobotConfig, joint_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    kp, kd = [], []
    for name in joint_names:
        gain = next((g for g in config.gains if g.pattern in name), None)
        if gain is None:
            raise ConfigError(f"robot {config.name!r}: no PD gain pattern matches joint {name!r}")
        kp.append(gain.kp)
        kd.append(gain.kd)
    return np.array(kp), np.array(kd)


def _add_floor_and_light(spec: mujoco.MjSpec) -> None:
    spec.add_texture(
        name="mimicsim_sky",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.45, 0.6, 0.78],
        rgb2=[0.92, 0.94, 0.97],
        width=256,
        height=256,
    )
    spec.add_texture(
        name="mimicsim_grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.82, 0.84, 0.86],
        rgb2=[0.72, 0.74, 0.77],
        width=512,
        height=512,
        mark=mujoco.mjtMark.mjMARK_EDGE,
        markrgb=[0.6, 0.6, 0.65],
    )
    material = spec.add_material(name="mimicsim_floor", texrepeat=[4, 4], texuniform=True, reflectance=0.05)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "mimicsim_grid"
    spec.worldbody.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0, 0, 0.05],
        material="mimicsim_floor",
        condim=3,
        friction=[1.0, 0.005, 0.0001],
    )
    spec.worldbody.add_light(
        name="mimicsim_sun", pos=[0, -1, 4], dir=[0, 0.25, -1], diffuse=[0.8, 0.8, 0.8], castshadow=True
    )
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]


def _body(spec: mujoco.MjSpec, config: RobotConfig, name: str) -> mujoco.MjsBody:
    body = spec.body(name)
    if body is None:
        raise ConfigError(f"robot {config.name!r}: its config names body {name!r}, which its model lacks")
    return body


def _default_qpos(config: RobotConfig, model: mujoco.MjModel) -> np.ndarray:
    qpos = model.qpos0.copy()
    qpos[:3] = 0.0
    qpos[3:7] = (1.0, 0.0, 0.0, 0.0)
    for name, value in config.default_pose.items():
        try:
            qpos[model.jnt_qposadr[model.joint(name).id]] = value
        except KeyError:
            raise ConfigError(f"robot {config.name!r}: default pose names unknown joint {name!r}") from None
    return qpos


def _geom_world_boxes(model: mujoco.MjModel, data: mujoco.MjData, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-frame axis-aligned boxes (centre, half extent) around the given geoms."""
    aabb = model.geom_aabb[geoms]
    rot = data.geom_xmat[geoms].reshape(-1, 3, 3)
    centre = data.geom_xpos[geoms] + np.einsum("gij,gj->gi", rot, aabb[:, :3])
    half = np.einsum("gij,gj->gi", np.abs(rot), aabb[:, 3:])
    return centre, half


def _robot_geoms(model: mujoco.MjModel, collision_only: bool) -> np.ndarray:
    ids = np.arange(model.ngeom)
    keep = (model.geom_bodyid[ids] > 0) & (model.geom_type[ids] != mujoco.mjtGeom.mjGEOM_PLANE)
    if collision_only:
        keep &= (model.geom_contype[ids] | model.geom_conaffinity[ids]) > 0
    return ids[keep]


def _z_extent(model: mujoco.MjModel, data: mujoco.MjData, collision_only: bool) -> tuple[float, float]:
    centre, half = _geom_world_boxes(model, data, _robot_geoms(model, collision_only))
    return float(np.min(centre[:, 2] - half[:, 2])), float(np.max(centre[:, 2] + half[:, 2]))


def _sole_centre(model: mujoco.MjModel, data: mujoco.MjData, body_name: str) -> list[float]:
    """Centre of the bottom face of a foot's collision geometry, in the foot body's frame."""
    body = model.body(body_name).id
    geoms = [g for g in _robot_geoms(model, collision_only=True) if model.geom_bodyid[g] == body]
    if not geoms:
        raise ConfigError(f"foot body {body_name!r} has no collision geometry to stand on")
    centre, half = _geom_world_boxes(model, data, np.array(geoms))
    lo, hi = (centre - half).min(axis=0), (centre + half).max(axis=0)
    world = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    local = data.xmat[body].reshape(3, 3).T @ (world - data.xpos[body])
    return local.tolist()
