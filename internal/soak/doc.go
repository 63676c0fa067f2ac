// Package soak holds the fault soak (make soak; SOAK=quick in make test): a simulated site of 5,000
// devices claimed by a real edgegw process and carried to a RabbitMQ of the soak's own, while the soak
// restarts the broker, SIGKILLs the gateway, flaps devices, fills and frees the state directory (a
// tmpfs it mounts) and steps the gateway's clock; a cloud side counts every message id and checks that
// nothing that must not be lost is, that twin versions never go backwards, and that every twin ends up
// on the cloud as it is in the gateway. Memory, goroutines and open files are sampled and drawn in the
// report (report.md and plot.svg). See docs/reliability.md.
package soak
