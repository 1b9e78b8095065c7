"""Policies: the policy protocol, scripted experts, trainers, remote serving."""
