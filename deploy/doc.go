// Package deploy holds testingd's deployment files (the systemd unit, the nginx
// configuration, the environment file) next to tests that check them, the
// Dockerfile and docs/DEPLOY.md against the code: the flags they use exist, the
// documented flag table is complete, and the Dockerfile's build makes a static
// binary. It has no code of its own.
package deploy
