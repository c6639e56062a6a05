"""Stable-Baselines3 and sb3-contrib baselines: hyperparameters (config), the shared-weight
learner (learner) and paper 002's Atari models (atari_models)."""
