"""The YAML presets, installed as package data (``robovision.configs``)."""
