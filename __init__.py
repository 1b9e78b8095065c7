"""mimicsim: a simulation-first robot learning environment.

Human motion -> Unitree humanoids (retargeting, RL tracking in MuJoCo) and pretrained
vision-language-action models -> scored manipulation tasks, all headless.
"""

from mimicsim.rendering import configure_gl_backend

# Chosen before anything imports mujoco: MuJoCo binds its OpenGL backend at import time.
configure_gl_backend()

__version__ = "0.1.0"
