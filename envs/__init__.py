"""Gymnasium environments: humanoid motion tracking and manipulation tasks.

Importing `mimicsim.envs` registers them, so `gymnasium.make("mimicsim/PickPlace-v0")` works after
`import mimicsim.envs`.
"""

from mimicsim.envs.registration import register_manipulation_envs

register_manipulation_envs()
