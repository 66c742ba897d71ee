// Stand-in Rachel8 entry point: the stand-in bun runs ../rachel8.sh in its place (shipped with the app, so
// a bundle carries it to any machine), which validates .env exactly as the real bot does.
