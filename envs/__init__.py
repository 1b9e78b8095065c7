"""Gymnasium environments: humanoid motion tracking and manipulation tasks.

Importing `mimicsim.envs` registers them, so `gymnasium.make("mimicsim/PickPlace-v0")` and
`gymnasium.make("mimicsim/Track-G1-v0", motions=...)` work after `import mimicsim.envs`.
"""

from mimicsim.envs.manipulation.registration import register_manipulation_envs
from mimicsim.envs.tracking.env import register_tracking_envs

register_manipulation_envs()
register_tracking_envs()
