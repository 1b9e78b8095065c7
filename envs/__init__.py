"""Gymnasium environments: humanoid motion tracking and manipulation tasks."""
