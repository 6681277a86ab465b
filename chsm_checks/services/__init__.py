"""What a run's scenarios use, each one thing, each served to steps as a fixture by the plugin.

- :mod:`.settings`: the run's mode, target, recordings and flags (read once from the options);
- :mod:`.identity`: the credential, and who made the observations (as a keyed pseudonym);
- :mod:`.secrets`: the HSM crypto user's password and every secret the run learnt, to mask;
- :mod:`.clients`: the scenario's ARM client and HSM sessions, in the run's mode;
- :mod:`.judge`: the catalogue's checks judged into findings, waivers applied;
- :mod:`.drill`: what the restore drill's scenarios hand on (the source inventory, the restore).
"""
