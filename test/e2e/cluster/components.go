package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// controllers lists the kube-controller-manager controllers, by the long
// names that Kubernetes 1.37 uses. Jobs cannot create pods without the
// service account controllers, which create each namespace's "default"
// account and its token. The garbage collector, namespace and TTL
// controllers clean up after tests.
var controllers = []string{
	"job-controller",
	"cronjob-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"ttl-after-finished-controller",
}

// serviceClusterIPRange is the API server's Service range. No proxy runs, so
// no traffic ever goes to these addresses: Services only get an IP from it.
const serviceClusterIPRange = "10.0.0.0/24"

// configure writes the certificates, keys, kubeconfigs and kwok stages into
// the cluster folder and prepares every process, without starting any.
func (c *Cluster) configure(binaries map[string]string) error {
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdClientPort, etcdPeerPort, apiServerPort, controllerManagerPort, schedulerPort, kwokPort :=
		ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	for _, dir := range []string{filepath.Join(c.dir, "pki"), filepath.Join(c.dir, "etcd"), filepath.Join(c.dir, "kwok"), c.logDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create folder: %w", err)
		}
	}

	pki, err := c.writePKI()
	if err != nil {
		return err
	}

	apiServerURL := "https://" + hostPort(apiServerPort)
	kubeconfigs := map[string]string{}
	for _, identity := range []struct {
		name   string
		client keyPair
	}{
		{"admin", pki.admin},
		{"controller-manager", pki.controllerManager},
		{"scheduler", pki.scheduler},
		{"kwok", pki.kwok},
	} {
		path := filepath.Join(c.dir, "pki", identity.name+".kubeconfig")
		if err := writeKubeconfig(path, apiServerURL, pki.ca.certPEM, identity.client); err != nil {
			return err
		}
		kubeconfigs[identity.name] = path
	}
	c.kubeconfig = kubeconfigs["admin"]
	c.restConfig = &rest.Config{
		Host: apiServerURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pki.ca.certPEM,
			CertData: pki.admin.certPEM,
			KeyData:  pki.admin.keyPEM,
		},
		QPS:   50,
		Burst: 100,
	}
	c.client, err = kubernetes.NewForConfig(c.restConfig)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}

	stagesPath := filepath.Join(c.dir, "kwok", "stages.yaml")
	if err := os.WriteFile(stagesPath, stages, 0o644); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}

	file := func(name string) string { return filepath.Join(c.dir, "pki", name) }
	logPath := func(name string) string { return filepath.Join(c.logDir, name+".log") }
	etcdURL := func(port int) string { return "http://" + hostPort(port) }

	c.etcd = &process{
		name:    "etcd",
		path:    binaries["etcd"],
		logPath: logPath("etcd"),
		args: []string{
			"--name=batchwatch-e2e",
			"--data-dir=" + filepath.Join(c.dir, "etcd"),
			"--listen-client-urls=" + etcdURL(etcdClientPort),
			"--advertise-client-urls=" + etcdURL(etcdClientPort),
			"--listen-peer-urls=" + etcdURL(etcdPeerPort),
			"--initial-advertise-peer-urls=" + etcdURL(etcdPeerPort),
			"--initial-cluster=batchwatch-e2e=" + etcdURL(etcdPeerPort),
			// The data is thrown away after the test, and fsync makes every
			// write wait for the disk.
			"--unsafe-no-fsync",
		},
	}

	c.apiServer = &process{
		name:    "kube-apiserver",
		path:    binaries["kube-apiserver"],
		logPath: logPath("kube-apiserver"),
		args: []string{
			"--etcd-servers=" + etcdURL(etcdClientPort),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(apiServerPort),
			"--cert-dir=" + filepath.Join(c.dir, "pki", "apiserver"),
			"--tls-cert-file=" + file("apiserver.crt"),
			"--tls-private-key-file=" + file("apiserver.key"),
			"--client-ca-file=" + file("ca.crt"),
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + file("service-account.pub"),
			"--service-account-signing-key-file=" + file("service-account.key"),
			"--service-cluster-ip-range=" + serviceClusterIPRange,
			// No component reaches the API server through the kubernetes
			// Service, so its endpoints need no upkeep.
			"--endpoint-reconciler-type=none",
			// This plugin taints new nodes as not ready, and only the node
			// lifecycle controller, which does not run here, removes the
			// taint, so pods would never schedule.
			"--disable-admission-plugins=TaintNodesByCondition",
			"--profiling=false",
		},
	}

	c.controllerManager = &process{
		name:    "kube-controller-manager",
		path:    binaries["kube-controller-manager"],
		logPath: logPath("kube-controller-manager"),
		args: []string{
			"--kubeconfig=" + kubeconfigs["controller-manager"],
			"--authentication-kubeconfig=" + kubeconfigs["controller-manager"],
			"--authorization-kubeconfig=" + kubeconfigs["controller-manager"],
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(controllerManagerPort),
			"--tls-cert-file=" + file("controller-manager.crt"),
			"--tls-private-key-file=" + file("controller-manager.key"),
			"--leader-elect=false",
			"--controllers=" + strings.Join(controllers, ","),
			"--service-account-private-key-file=" + file("service-account.key"),
			"--root-ca-file=" + file("ca.crt"),
			"--profiling=false",
		},
	}

	c.scheduler = &process{
		name:    "kube-scheduler",
		path:    binaries["kube-scheduler"],
		logPath: logPath("kube-scheduler"),
		args: []string{
			"--kubeconfig=" + kubeconfigs["scheduler"],
			"--authentication-kubeconfig=" + kubeconfigs["scheduler"],
			"--authorization-kubeconfig=" + kubeconfigs["scheduler"],
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(schedulerPort),
			"--tls-cert-file=" + file("scheduler.crt"),
			"--tls-private-key-file=" + file("scheduler.key"),
			"--leader-elect=false",
			"--profiling=false",
		},
	}

	c.kwok = &process{
		name:    "kwok",
		path:    binaries["kwok"],
		logPath: logPath("kwok"),
		// kwok also loads $HOME/.kwok/kwok.yaml when it exists, so HOME points
		// to an empty folder to keep a developer's own kwok setup out.
		env: []string{"HOME=" + filepath.Join(c.dir, "kwok")},
		args: []string{
			"--kubeconfig=" + kubeconfigs["kwok"],
			"--config=" + stagesPath,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + nodeAnnotation + "=" + nodeAnnotationValue,
			// The API server dials a node's address for logs and exec, and
			// kwok's defaults are in 10.0.0.0/8, so every address stays on
			// the loopback interface.
			"--node-ip=127.0.0.1",
			"--cidr=127.100.0.0/16",
			"--node-port=" + strconv.Itoa(kwokPort),
			"--server-address=" + hostPort(kwokPort),
		},
	}

	tlsClient, err := newTLSClient(pki.ca.certPEM, pki.admin)
	if err != nil {
		return err
	}
	c.etcdReady = httpCheck(plainClient(), etcdURL(etcdClientPort)+"/health")
	c.apiServerReady = httpCheck(tlsClient, apiServerURL+"/readyz")
	c.controllerManagerReady = httpCheck(tlsClient, "https://"+hostPort(controllerManagerPort)+"/healthz")
	c.schedulerReady = httpCheck(tlsClient, "https://"+hostPort(schedulerPort)+"/healthz")
	c.kwokReady = httpCheck(plainClient(), "http://"+hostPort(kwokPort)+"/healthz")
	return nil
}

// clusterPKI holds the certificates of one cluster.
type clusterPKI struct {
	ca                *certificateAuthority
	admin             keyPair
	controllerManager keyPair
	scheduler         keyPair
	kwok              keyPair
}

// writePKI creates the CA, the serving certificates, one client certificate
// per component and the service account key, and writes the files that the
// components read into the pki folder.
func (c *Cluster) writePKI() (clusterPKI, error) {
	ca, err := newCertificateAuthority("batchwatch-e2e-ca")
	if err != nil {
		return clusterPKI{}, err
	}
	pki := clusterPKI{ca: ca}

	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	files := map[string][]byte{"ca.crt": ca.certPEM}
	for _, serving := range []struct {
		file     string
		name     string
		dnsNames []string
	}{
		{"apiserver", "kube-apiserver", []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}},
		{"controller-manager", "kube-controller-manager", []string{"localhost"}},
		{"scheduler", "kube-scheduler", []string{"localhost"}},
	} {
		pair, err := ca.issueServing(serving.name, serving.dnsNames, loopback)
		if err != nil {
			return clusterPKI{}, err
		}
		files[serving.file+".crt"] = pair.certPEM
		files[serving.file+".key"] = pair.keyPEM
	}

	// The controller manager runs every controller under its own identity
	// (no --use-service-account-credentials), which needs the rights of all
	// of them, so it is in system:masters like the admin and kwok. The
	// scheduler's bootstrap role covers everything it does.
	for _, client := range []struct {
		pair         *keyPair
		commonName   string
		organization []string
	}{
		{&pki.admin, "batchwatch-e2e-admin", []string{"system:masters"}},
		{&pki.controllerManager, "system:kube-controller-manager", []string{"system:masters"}},
		{&pki.scheduler, "system:kube-scheduler", nil},
		{&pki.kwok, "kwok", []string{"system:masters"}},
	} {
		*client.pair, err = ca.issueClient(client.commonName, client.organization...)
		if err != nil {
			return clusterPKI{}, err
		}
	}

	files["service-account.key"], files["service-account.pub"], err = newServiceAccountKey()
	if err != nil {
		return clusterPKI{}, err
	}

	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.dir, "pki", name), data, 0o600); err != nil {
			return clusterPKI{}, fmt.Errorf("write %s: %w", name, err)
		}
	}
	return pki, nil
}

// writeKubeconfig writes a kubeconfig that embeds the CA and client
// certificate, so it stays valid when copied.
func writeKubeconfig(path, server string, caPEM []byte, client keyPair) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["batchwatch-e2e"] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}
	config.AuthInfos["batchwatch-e2e"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: client.certPEM,
		ClientKeyData:         client.keyPEM,
	}
	config.Contexts["batchwatch-e2e"] = &clientcmdapi.Context{
		Cluster:  "batchwatch-e2e",
		AuthInfo: "batchwatch-e2e",
	}
	config.CurrentContext = "batchwatch-e2e"
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// newTLSClient returns an HTTP client that trusts only the cluster CA and
// presents the given client certificate.
func newTLSClient(caPEM []byte, client keyPair) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("parse cluster CA certificate")
	}
	cert, err := tls.X509KeyPair(client.certPEM, client.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load admin client certificate: %w", err)
	}
	tlsConfig := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: nil},
	}, nil
}

// plainClient returns an HTTP client that ignores proxy settings, because
// every component listens on 127.0.0.1.
func plainClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{Proxy: nil},
	}
}
