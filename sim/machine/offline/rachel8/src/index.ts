// Simulated Rachel8 entry point: the simulated bun runs /opt/sim/lib/rachel8.sh in its place, which
// validates .env exactly as the real bot does (see sim/machine/offline/rachel8.sh).
