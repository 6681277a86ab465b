"""The Cloud HSM utilities: pexpect sessions, parsers, transcripts, and the restore drill's HSM side."""
