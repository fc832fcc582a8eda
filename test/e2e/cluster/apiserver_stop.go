package cluster

import "context"

// StopAPIServer kills kube-apiserver and waits for it to exit, so that
// clients see the outage for as long as the test needs, until
// StartAPIServer. etcd keeps running with the cluster's data.
func (c *Cluster) StopAPIServer() {
	// The API server keeps no state of its own, so SIGKILL loses nothing.
	c.apiServer.stop(0)
	c.logger.Info("component stopped", "component", c.apiServer.name)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same port with the same etcd data, and waits until it is ready. The other
// components reconnect on their own.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.checkRunning(); err != nil {
		return err
	}
	return c.startProcess(ctx, c.apiServer, c.apiServerReady)
}
