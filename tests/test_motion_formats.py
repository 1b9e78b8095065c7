"""Readers and writers of human-motion formats, on motions generated here (no shared data needed)."""

from __future__ import annotations

import json
from itertools import permutations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human import procedural
from mimicsim.retarget.human.formats import humanml3d, load_motion, options_of, rep272
from mimicsim.retarget.human.formats.bvh import forward_kinematics, parse_bvh, write_bvh
from mimicsim.retarget.human.formats.mapping import KNOWN_SKELETONS, canonical
from mimicsim.retarget.human.formats.npz import save_npz
from mimicsim.retarget.human.normalize import (
    axes_rotation,
    facing_yaw,
    floor_height,
    foot_heights,
    normalize,
    resample,
    sides_swapped,
)
from mimicsim.retarget.human.skeleton import SMPL_JOINTS, SMPL_MIRROR, SMPL_PARENTS

Y_UP = axes_rotation("y")  # internal = Y_UP @ y-up source


@pytest.fixture(scope="module")
def clip():
    return procedural.generate(
        [
            procedural.Stand(0.4),
            procedural.Walk(2.0, turn=60.0),
            procedural.Squat(duration=1.6),
            procedural.Jump(height=0.15, distance=0.3),
            procedural.Stand(0.4),
        ],
        overlays=[procedural.Wave(start=0.5, duration=1.5)],
        fps=30.0,
    )


def y_up(positions):
    return positions @ Y_UP  # the inverse rotation, applied to row vectors


# --- round trips -------------------------------------------------------------------------------------


def test_bvh_round_trip_is_exact(clip, tmp_path):
    path = write_bvh(clip, tmp_path / "clip.bvh")
    back = load_motion(path)
    assert back.fps == clip.fps
    assert np.abs(back.positions - clip.positions).max() < 1e-6
    assert back.source.details["skeleton"].startswith("smpl")
    assert back.source.format == "bvh" and len(back.source.sha256) == 64


def test_npz_round_trip_is_exact(clip, tmp_path):
    ready = normalize(clip)
    back = load_motion(save_npz(ready, tmp_path / "clip.npz"))
    assert np.abs(back.positions - ready.positions).max() < 1e-6
    assert back.fps == ready.fps
    np.testing.assert_array_equal(back.contacts, ready.contacts)
    assert not list(tmp_path.glob(".*part*"))


# --- joint arrays ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["T22", "1T22", "T24", "T55", "N22_3T"])
def test_joint_array_layouts(clip, tmp_path, layout):
    joints = y_up(clip.positions)
    if layout == "1T22":
        array = joints[None]
    elif layout in ("T24", "T55"):
        extra = int(layout[1:]) - 22
        array = np.concatenate([joints, np.zeros((len(joints), extra, 3))], axis=1)
    elif layout == "N22_3T":
        array = np.stack([np.zeros_like(joints), joints]).transpose(0, 2, 3, 1)
    else:
        array = joints
    np.save(tmp_path / "joints.npy", array.astype(np.float32))
    motion = load_motion(tmp_path / "joints.npy", fps=30.0, **({"sample": 1} if layout == "N22_3T" else {}))
    assert motion.source.details["up"] == "y (detected)"
    assert np.abs(motion.positions - clip.positions).max() < 1e-6  # float32 storage


def test_z_up_joints_are_detected(clip, tmp_path):
    np.save(tmp_path / "zup.npy", clip.positions)
    motion = load_motion(tmp_path / "zup.npy", fps=30.0)
    assert motion.source.details["up"] == "z (detected)"
    np.testing.assert_allclose(motion.positions, clip.positions)


@pytest.mark.parametrize("units, scale", [("cm", 100.0), ("mm", 1000.0), ("cmu", 1 / 0.05644), ("0.5", 2.0)])
def test_joint_units(clip, tmp_path, units, scale):
    np.save(tmp_path / "j.npy", y_up(clip.positions) * scale)
    motion = load_motion(tmp_path / "j.npy", fps=30.0, units=units)
    np.testing.assert_allclose(motion.positions, clip.positions, atol=1e-9)


def test_mdm_results_dict_needs_format_and_picks_a_sample(clip, tmp_path):
    joints = y_up(clip.positions).transpose(1, 2, 0)  # (22, 3, T)
    motion = np.stack([joints, joints * 0 + 1.0, joints])
    results = {
        "motion": motion.astype(np.float32),
        "text": ["a person walks", "x", "y"],
        "lengths": np.array([clip.num_frames - 10, 5, 5]),
        "num_samples": 3,
        "num_repetitions": 1,
    }
    np.save(tmp_path / "results.npy", results, allow_pickle=True)
    with pytest.raises(InputFileError, match="format='mdm'"):
        load_motion(tmp_path / "results.npy")
    loaded = load_motion(tmp_path / "results.npy", format="mdm", sample=0, fps=30.0)
    assert loaded.num_frames == clip.num_frames - 10
    assert loaded.source.details["prompt"] == "a person walks"
    assert np.abs(loaded.positions - clip.positions[:-10]).max() < 1e-6


def test_mdm_refuses_code_in_the_pickle(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    np.save(tmp_path / "results.npy", np.array({"motion": Evil()}, dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match="refusing to load"):
        load_motion(tmp_path / "results.npy", format="mdm")
    assert not marker.exists()


# --- feature formats (exactness against HumanML3D itself is in test_shared_motions) ----------------


def test_humanml3d_features_integrate_heading_and_velocity():
    num = 21
    features = np.zeros((num, humanml3d.DIM))
    features[:, 3] = 0.9  # root height
    features[:, 2] = 0.05  # 5 cm/frame forward (+Z in the heading frame)
    rate = np.pi / 40
    features[:, 0] = rate  # yaw rate (HumanML3D turns its heading quaternion by 2 * rate)
    local = np.zeros((21, 3))
    local[:, 1] = np.linspace(0.0, 1.5, 21)
    features[:, 4:67] = local.reshape(-1)
    joints = humanml3d.recover_joints(features)
    # frame t moves by frame t-1's velocity, un-rotated by frame t's heading (HumanML3D's convention)
    np.testing.assert_allclose(joints[1, 0], [-0.05 * np.sin(2 * rate), 0.9, 0.05 * np.cos(2 * rate)], atol=1e-12)
    step = np.diff(joints[:, 0, [0, 2]], axis=0)
    np.testing.assert_allclose(np.linalg.norm(step, axis=1), 0.05, atol=1e-12)
    angles = np.unwrap(np.arctan2(step[:, 0], step[:, 1]))
    np.testing.assert_allclose(np.diff(angles), -2 * rate, atol=1e-9)
    np.testing.assert_allclose(joints[:, 1:, 1], np.tile(local[:, 1], (num, 1)), atol=1e-12)  # heights kept


def test_rep272_straight_walk_without_heading_change():
    num = 10
    features = np.zeros((num, rep272.DIM))
    features[:, 2:8] = [1, 0, 0, 0, 1, 0]  # identity heading change
    features[:, 1] = 0.04  # forward (+Z) velocity
    features[:, 8:74] = np.tile([0.0, 0.9, 0.0], 22)
    joints = rep272.recover_joints(features)
    np.testing.assert_allclose(joints[:, 0, 2], 0.04 * np.arange(1, num + 1))
    np.testing.assert_allclose(rep272.rotation_6d_to_matrix(np.array([2.0, 0, 0, 0.3, 5.0, 0])), np.eye(3), atol=1e-12)


# --- BVH ---------------------------------------------------------------------------------------------


def bvh_text(names, parents, offsets, channels, frames, frame_time=1 / 30):
    """A BVH file for an arbitrary hierarchy (joints listed parents-first, depth-first)."""
    lines = ["HIERARCHY"]

    def emit(j, depth):
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parents[j] < 0 else 'JOINT'} {names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(repr(float(v)) for v in offsets[j])}")
        lines.append(f"{pad}  CHANNELS {len(channels[j])} {' '.join(channels[j])}")
        kids = [k for k, p in enumerate(parents) if p == j]
        for k in kids:
            emit(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0.05 0", f"{pad}  }}"])
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time}"]
    lines += [" ".join(repr(float(v)) for v in row) for row in frames]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("order", ["".join(p) for p in permutations("XYZ")])
def test_bvh_euler_orders_compose_intrinsically(order, tmp_path):
    rng = np.random.default_rng(3)
    names, parents = ["root", "a", "b"], [-1, 0, 1]
    offsets = np.array([[0.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.2, 0.0, 0.1]])
    rot_channels = tuple(f"{axis}rotation" for axis in order)
    channels = [("Xposition", "Yposition", "Zposition", *rot_channels), rot_channels, rot_channels]
    angles = rng.uniform(-90, 90, (4, 3, 3))
    frames = np.concatenate([rng.normal(size=(4, 3)), angles.reshape(4, 9)], axis=1)
    skeleton, _, parsed = parse_bvh(bvh_text(names, parents, offsets, channels, frames))
    positions, _ = forward_kinematics(skeleton, parsed)
    for f in range(4):  # the same chain composed independently, one elementary rotation at a time

        def local(j, f=f):
            return np.linalg.multi_dot(
                [
                    Rotation.from_euler(axis.lower(), angle, degrees=True).as_matrix()
                    for axis, angle in zip(order, angles[f, j], strict=True)
                ]
            )

        expected = frames[f, :3] + local(0) @ offsets[1] + local(0) @ local(1) @ offsets[2]
        np.testing.assert_allclose(positions[f, 2], expected, atol=1e-9)


def _rewrite_bvh(motion, path, *, scale=1.0, z_up=False):
    """Write `motion` as BVH, optionally scaled (units) or turned into a z-up file."""
    write_bvh(motion, path)
    skeleton, frame_time, frames = parse_bvh(path.read_text())
    offsets, frames = skeleton.offsets * scale, frames.copy()
    frames[:, :3] *= scale
    if z_up:  # MuJoCo-style axes (x forward, y left, z up): conjugate every rotation by the change of axes
        change = Rotation.from_matrix(Y_UP)
        offsets = change.apply(offsets)
        frames[:, :3] = change.apply(frames[:, :3])
        for j in range(len(skeleton.names)):
            cols = slice(3 + 3 * j, 6 + 3 * j)
            local = Rotation.from_euler("ZXY", frames[:, cols], degrees=True)
            frames[:, cols] = (change * local * change.inv()).as_euler("ZXY", degrees=True)
    path.write_text(bvh_text(skeleton.names, skeleton.parents, offsets, skeleton.channels, frames, frame_time))
    return path


@pytest.mark.parametrize("scale, unit", [(100.0, "cm"), (1 / 0.05644, "cmu"), (1000.0, "mm")])
def test_bvh_units_are_detected(clip, tmp_path, scale, unit):
    motion = load_motion(_rewrite_bvh(clip, tmp_path / "u.bvh", scale=scale))
    assert motion.source.details["units"] == f"{unit} (detected)"
    assert np.abs(motion.positions - clip.positions).max() < 1e-5


def test_bvh_z_up_is_detected_and_overridable(clip, tmp_path):
    path = _rewrite_bvh(clip, tmp_path / "z.bvh", z_up=True)
    detected = load_motion(path)
    assert detected.source.details["up"] == "z (detected)"
    assert np.abs(detected.positions - clip.positions).max() < 1e-6
    assert np.abs(load_motion(path, up="z").positions - clip.positions).max() < 1e-6


def test_cmu_names_map_with_blended_joints(tmp_path):
    names = [
        "Hips",
        "LHipJoint",
        "LeftUpLeg",
        "LeftLeg",
        "LeftFoot",
        "LeftToeBase",
        "RHipJoint",
        "RightUpLeg",
        "RightLeg",
        "RightFoot",
        "RightToeBase",
        "LowerBack",
        "Spine",
        "Spine1",
        "Neck",
        "Neck1",
        "Head",
        "LeftShoulder",
        "LeftArm",
        "LeftForeArm",
        "LeftHand",
        "RightShoulder",
        "RightArm",
        "RightForeArm",
        "RightHand",
    ]
    parents = [-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 15, 13, 17, 18, 19, 13, 21, 22, 23]
    offsets = np.array(
        [
            [0, 0, 0],
            [0, 0, 0],
            [1.4, -1.8, 0.8],
            [2.4, -6.7, 0],
            [2.6, -7.0, 0],
            [0.2, -0.4, 2.3],
            [0, 0, 0],
            [-1.3, -1.8, 0.8],
            [-2.5, -7.0, 0],
            [-2.6, -7.1, 0],
            [-0.2, -0.5, 2.4],
            [0, 0, 0],
            [0, 2.0, -0.2],
            [0, 2.0, 0],
            [0, 0, 0],
            [0, 1.7, 0.2],
            [0.1, 1.8, -0.1],
            [0, 0, 0],
            [3.4, 1.2, -0.3],
            [5.0, 0, 0],
            [3.5, 0, 0],
            [0, 0, 0],
            [-3.1, 1.4, -0.4],
            [-5.2, 0, 0],
            [-3.4, 0, 0],
        ],
        dtype=float,
    )
    channels = [("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")] + [
        ("Zrotation", "Yrotation", "Xrotation")
    ] * (len(names) - 1)
    frames = np.zeros((3, 3 + 3 * len(names)))
    frames[:, 1] = 17.0
    path = tmp_path / "cmu.bvh"
    path.write_text(bvh_text(names, parents, offsets, channels, frames))
    motion = load_motion(path)
    assert motion.source.details["skeleton"] == "cmu (25 joints)"
    assert motion.source.details["units"] == "cmu (detected)"
    raw = forward_kinematics(*parse_bvh(path.read_text())[::2])[0][0] * 0.05644 @ Y_UP.T
    spine3 = motion.positions[0, SMPL_JOINTS.index("spine3")]
    np.testing.assert_allclose(spine3, 0.5 * (raw[names.index("Spine1")] + raw[names.index("Neck1")]), atol=1e-12)


def test_user_mapping_for_an_unknown_skeleton(clip, tmp_path):
    path = write_bvh(clip, tmp_path / "x.bvh")
    renamed = {name: f"Bone{j:02d}" for j, name in enumerate(SMPL_JOINTS)}
    text = path.read_text()
    for name in sorted(SMPL_JOINTS, key=len, reverse=True):
        for keyword in ("JOINT", "ROOT"):
            text = text.replace(f"{keyword} {name}\n", f"{keyword} {renamed[name]}\n")
    path.write_text(text)
    with pytest.raises(InputFileError, match=r"unknown skeleton.*mapping="):
        load_motion(path)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(renamed))
    motion = load_motion(path, mapping=mapping)
    assert np.abs(motion.positions - clip.positions).max() < 1e-6
    blended = dict(renamed, spine3={renamed["spine2"]: 1.0, renamed["neck"]: 1.0})
    mapping.write_text(json.dumps(blended))
    half = load_motion(path, mapping=mapping).positions[:, SMPL_JOINTS.index("spine3")]
    np.testing.assert_allclose(half, 0.5 * (clip.joint("spine2") + clip.joint("neck")), atol=1e-6)


def test_canonical_names_and_known_maps_cover_smpl():
    assert canonical("mixamorig:LeftArm") == "leftarm"
    assert canonical("L_Hip") == canonical("Left_hip") == canonical("left_hip") == canonical("hip.L") == "lefthip"
    for mapping in KNOWN_SKELETONS.values():
        assert set(mapping) == set(SMPL_JOINTS)


# --- npz layout and dispatch ---------------------------------------------------------------------------


def test_npz_with_named_skeleton_and_y_up(clip, tmp_path):
    names = [n.replace("left_", "L_").replace("right_", "R_").title() for n in SMPL_JOINTS] + ["L_Hand", "R_Hand"]
    positions = np.concatenate([y_up(clip.positions), np.zeros((clip.num_frames, 2, 3))], axis=1)
    np.savez(tmp_path / "named.npz", positions=positions, fps=30.0, joint_names=np.array(names), up="y")
    motion = load_motion(tmp_path / "named.npz")
    assert motion.source.details["skeleton"] == "smpl"
    np.testing.assert_allclose(motion.positions, clip.positions, atol=1e-12)


def test_options_are_checked_per_format(clip, tmp_path):
    path = write_bvh(clip, tmp_path / "c.bvh")
    with pytest.raises(ConfigError, match="does not apply to format 'bvh'"):
        load_motion(path, mean="Mean.npy")
    with pytest.raises(ConfigError, match="unknown format"):
        load_motion(path, format="fbx")
    assert set(options_of("humanml3d")) == {"mean", "std", "fps"}


# --- normalisation ---------------------------------------------------------------------------------------


def test_floor_ignores_glitch_frames(clip):
    positions = clip.positions.copy()
    positions[:, :, 2] -= 0.2  # the clip sinks 20 cm
    positions[40, 10, 2] -= 0.5  # and one frame's toe glitches far below
    sunk = type(clip)(positions=positions, fps=clip.fps, source=clip.source)
    assert floor_height(positions) == pytest.approx(-0.2, abs=1e-9)
    fixed = normalize(sunk)
    assert foot_heights(np.delete(fixed.positions, 40, axis=0)).min() == pytest.approx(0.0, abs=1e-9)


def test_facing_and_origin_reset(clip):
    turn = Rotation.from_euler("z", 70, degrees=True)
    moved = turn.apply(clip.positions.reshape(-1, 3)).reshape(clip.positions.shape) + [3.0, -2.0, 0.0]
    motion = normalize(type(clip)(positions=moved, fps=clip.fps, source=clip.source), face=True, origin=True)
    assert facing_yaw(motion.positions[:1])[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(motion.positions[0, 0, :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm(np.diff(motion.positions, axis=1), axis=-1),
        np.linalg.norm(np.diff(clip.positions, axis=1), axis=-1),
        atol=1e-12,
    )


def test_resample_keeps_duration_and_interpolates(clip):
    slower = resample(clip, 20.0)
    assert slower.fps == 20.0
    assert slower.duration == pytest.approx(clip.duration, abs=1 / 20)
    np.testing.assert_allclose(slower.positions[3], 0.5 * (clip.positions[4] + clip.positions[5]), atol=1e-12)
    faster = resample(clip, 60.0)
    np.testing.assert_allclose(faster.positions[::2], clip.positions[: len(faster.positions[::2])], atol=1e-12)


def test_parents_match_the_canonical_skeleton(clip):
    assert clip.parents == SMPL_PARENTS and clip.joint_names == SMPL_JOINTS


# --- drawing and the CLI --------------------------------------------------------------------------------


def test_add_skeleton_draws_spheres_and_capsules(clip):
    import mujoco

    from mimicsim.errors import RenderingError
    from mimicsim.retarget.human.skeleton_view import add_skeleton

    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    scene = mujoco.MjvScene(model, maxgeom=60)
    added = add_skeleton(scene, clip.positions[0], clip.parents, offset=(1.0, 2.0, 0.0), rgba=(1, 0, 0, 1))
    assert added == scene.ngeom == 22 + 21
    spheres = [scene.geoms[i] for i in range(22)]
    np.testing.assert_allclose([g.pos for g in spheres], clip.positions[0] + [1.0, 2.0, 0.0], atol=1e-6)
    capsule = scene.geoms[22]
    assert capsule.type == mujoco.mjtGeom.mjGEOM_CAPSULE
    bone = np.linalg.norm(clip.positions[0, 1] - clip.positions[0, 0])
    assert 2 * capsule.size[2] == pytest.approx(bone, rel=1e-5)  # a capsule spans its bone
    with pytest.raises(RenderingError, match="larger max_geom"):
        add_skeleton(scene, clip.positions[0], clip.parents)


def test_cli_info_and_render(clip, tmp_path, capsys):
    import imageio.v2 as imageio

    from mimicsim.cli import main

    path = write_bvh(clip, tmp_path / "clip.bvh")
    assert main(["motion", "info", str(path)]) == 0
    report = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines())
    assert report["format"].startswith("bvh · skeleton smpl (22 joints)")
    assert report["frames"].startswith(f"{clip.num_frames} at 30 fps")
    assert report["height"].startswith("1.70 m")
    assert report["plausible"] == "yes"
    out = tmp_path / "video" / "clip.mp4"
    assert (
        main(
            ["motion", "render", str(path), "--out", str(out), "--width", "160", "--height", "120", "--video-fps", "10"]
        )
        == 0
    )
    with imageio.get_reader(out, format="FFMPEG") as reader:
        frames = np.stack(list(reader.iter_data()))
    assert frames.shape == (int(clip.duration * 10) + 1, 120, 160, 3)
    assert frames.std() > 10  # a skeleton over a checker floor, not a blank image
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]


def test_smpl_bvh_carries_global_rotations_in_the_internal_frame(clip, tmp_path):
    from mimicsim.retarget.human.motion import bone_lengths
    from mimicsim.retarget.human.skeleton import rest_offsets

    motion = load_motion(write_bvh(clip, tmp_path / "r.bvh"))
    assert motion.rotations.shape == (clip.num_frames, 22, 4)
    offsets = rest_offsets(tuple(np.median(bone_lengths(clip.positions, SMPL_PARENTS), axis=0)[1:]))
    for joint, child in (("left_knee", "left_ankle"), ("spine3", "neck"), ("right_elbow", "right_wrist")):
        j, c = SMPL_JOINTS.index(joint), SMPL_JOINTS.index(child)
        rotation = Rotation.from_quat(motion.rotations[:, j], scalar_first=True)  # wxyz
        np.testing.assert_allclose(
            rotation.apply(offsets[c]), motion.positions[:, c] - motion.positions[:, j], atol=1e-6
        )
    turned = normalize(motion, face=True, fps=15.0)
    assert turned.rotations.shape == (turned.num_frames, 22, 4)


def test_swapped_sides_are_mirrored_with_a_warning(clip, tmp_path):
    swap = list(SMPL_MIRROR)
    np.save(tmp_path / "swapped.npy", clip.positions[:, swap])  # left joints labelled right
    with pytest.warns(UserWarning, match="left and right look swapped.*mirrored"):
        motion = load_motion(tmp_path / "swapped.npy", fps=30.0, up="z")
    assert "swapped" in motion.source.details["warning"]
    # The reflected file is a right-handed person again: every label on its own side.
    np.testing.assert_allclose(motion.positions, clip.positions[:, swap] * [1.0, -1.0, 1.0], atol=1e-6)
    assert not sides_swapped(motion.positions)
    assert "warning" not in load_motion(write_bvh(clip, tmp_path / "fine.bvh")).source.details
