"""The `capi` command and what only it uses (serve and its local queue, send, replay, the
emulator setup). Not in the deployed functions' zip."""
