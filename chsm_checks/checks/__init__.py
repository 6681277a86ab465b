"""The configuration catalogue: pure checks over ARM snapshots, their metadata, mappings and waivers."""
