"""Fuzzing: decoders and live machines (qbg/fuzz.py), regression seeds in seeds/."""
