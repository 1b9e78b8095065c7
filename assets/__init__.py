"""Robots: the registry (`load_robot`), their specs, and the models authored here."""

from mimicsim.assets.robot_config import Gain, Keypoint, RobotConfig
from mimicsim.assets.robot_spec import RobotSpec
from mimicsim.assets.robots import ROBOTS, load_robot, robot_config, robot_names

__all__ = ["ROBOTS", "Gain", "Keypoint", "RobotConfig", "RobotSpec", "load_robot", "robot_config", "robot_names"]
