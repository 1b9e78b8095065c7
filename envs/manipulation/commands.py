"""Verbs of the manipulation scene: `mimicsim retarget-hand`.

Retargeting a hand lives on the retarget floor (`retarget.hand`), but this verb also replays the
result in the manipulation scene and records it as a demonstration, which needs the scene: the verb
sits on the envs floor, the lowest that holds everything it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tyro

from mimicsim.assets.hand_mapping import ACTION_DIM
from mimicsim.envs.manipulation.base import CONTROL_HZ
from mimicsim.envs.manipulation.hand_replay import DEFAULT_TASK
from mimicsim.retarget.hand.retargeter import HandRetargetConfig

ROBOT_TYPE = "franka_inspire"
DATASET_FPS = round(CONTROL_HZ)


def retarget_hand(
    file: Annotated[Path, tyro.conf.Positional],
    *,
    out: Path | None = None,
    video: Path | None = None,
    dataset: Path | None = None,
    task: str = DEFAULT_TASK,
    layout: Literal["auto", "mediapipe", "mano"] = "auto",
    side: Literal["right", "left"] = "right",
    fps: float | None = None,
    config: HandRetargetConfig = HandRetargetConfig(),
) -> None:
    """Retarget human hand keypoints onto the Franka + Inspire hand; replay the result in the
    manipulation scene; write the trajectory npz with its quality report.

    Args:
        file: Hand keypoints: .npy (T, 21, 3) or .npz with `keypoints` and optional `fps`,
            `wrist_pos`, `wrist_quat_wxyz`.
        out: Output npz (default: <file>_inspire.npz in the current folder).
        video: Also write an MP4 of the human keypoints beside the simulated hand.
        dataset: Append the replay as an episode of the LeRobotDataset v3.0 in this folder
            (created when absent): cameras, 13-D state and action, the task.
        task: The episode's instruction in the dataset.
        layout: Keypoint order: mediapipe (auto) or mano.
        side: right, or left (mirrored onto the right hand).
        fps: The file's frame rate (default: the file's own, else 30).
        config: Retargeting settings.
    """
    from mimicsim.atomic import check_writable
    from mimicsim.envs.manipulation.hand_replay import replay_hand
    from mimicsim.envs.manipulation.scene import CAMERAS
    from mimicsim.retarget.hand.keypoints import load_hand
    from mimicsim.retarget.hand.quality import format_report
    from mimicsim.retarget.hand.retargeter import retarget_hand as retarget
    from mimicsim.retarget.hand.trajectory import save_hand_trajectory

    out = out if out is not None else Path(f"{file.stem}_inspire.npz")
    for path in (out, video):
        if path is not None:
            check_writable(path)
    if dataset is not None:
        check_writable(dataset, folder=True)
        _check_dataset(dataset, task)
    motion = load_hand(file, layout=layout, side=side, fps=fps)
    trajectory = retarget(motion, config)
    cameras = CAMERAS if dataset is not None else ()
    replay = replay_hand(trajectory.being_h0, trajectory.fps, cameras=cameras, instruction=task)
    trajectory.quality["replay"] = replay.report
    save_hand_trajectory(
        out,
        trajectory,
        {"replay_fps": np.array(replay.fps), "replay_state": replay.state, "replay_action": replay.action},
    )
    print(format_report(trajectory.quality))
    print(f"wrote {out} ({trajectory.n_frames} frames at {trajectory.fps:g} fps)")
    if dataset is not None:
        from mimicsim.assets.hand_mapping import BEING_H0_HAND_ORDER
        from mimicsim.lerobot_dataset import Episode, append_episode
        from mimicsim.retarget.hand.trajectory import ARM_JOINT_NAMES

        names = [*ARM_JOINT_NAMES, *BEING_H0_HAND_ORDER]
        episode = Episode({"observation.state": replay.state, "action": replay.action}, replay.images, task)
        index = append_episode(
            dataset,
            episode,
            fps=DATASET_FPS,
            robot_type=ROBOT_TYPE,
            names={"observation.state": names, "action": names},
        )
        print(f"appended episode {index} ({episode.length} frames) to {dataset}")
    if video is not None:
        from mimicsim.envs.manipulation.hand_video import render_hand_video

        render_hand_video(video, trajectory.human_keypoints, trajectory.fps, replay)
        print(f"wrote {video}")


def _check_dataset(dataset: Path, task: str) -> None:
    """An incompatible dataset fails before any work: a one-frame episode shaped like the replay's."""
    from mimicsim.envs.manipulation.scene import CAMERAS, DEFAULT_IMAGE_SIZE
    from mimicsim.lerobot_dataset import Episode, check_appendable

    vector = np.zeros((1, ACTION_DIM))
    image = np.zeros((1, *DEFAULT_IMAGE_SIZE, 3), dtype=np.uint8)
    check_appendable(
        dataset,
        Episode({"observation.state": vector, "action": vector}, dict.fromkeys(CAMERAS, image), task),
        DATASET_FPS,
    )
