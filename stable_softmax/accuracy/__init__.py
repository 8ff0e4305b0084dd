"""Accuracy tooling: error metrics against the correctly rounded reference."""
