import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np

from mimicsim.assets import load_robot
from mimicsim.assets.snapshots import hold_pose, render_standing


def test_render_is_non_blank_and_of_requested_size(tmp_path):
    image = render_standing(load_robot("g1"), tmp_path / "g1.png", width=320, height=240)
    assert image.shape == (240, 320, 3)
    assert image.std() > 10  # a robot on a checker floor, not one flat colour
    assert iio.imread(tmp_path / "g1.png").shape == (240, 320, 3)


def test_hold_pose_video_reads_back(tmp_path):
    video = tmp_path / "hold.mp4"
    hold_pose(load_robot("h1"), 0.5, video=video, fps=20, width=160, height=160)
    with imageio.get_reader(video, format="FFMPEG") as reader:
        frames = np.stack(list(reader.iter_data()))
    assert frames.shape[0] == 10 and frames.shape[1:] == (160, 160, 3)
    assert not list(tmp_path.glob(".*part*")), "temporary files left behind"
