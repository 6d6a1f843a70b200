"""The whole pipeline on one machine: emulators, redis-server, functions, bridge."""
