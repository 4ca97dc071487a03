package lab

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// labContext is the name of the cluster, user and context in every lab kubeconfig.
const labContext = "jumpstarter-lab"

// kubeconfigPath returns the kubeconfig of identity (a labCerts name: "admin",
// "kube-controller-manager", "scheduler", "controller") in a lab directory. The admin
// kubeconfig is DIR/kubeconfig.
func kubeconfigPath(dir, identity string) string {
	if identity == "admin" {
		return filepath.Join(dir, "kubeconfig")
	}
	return filepath.Join(dir, identity+".kubeconfig")
}

// writeKubeconfig writes a kubeconfig for identity (its bearer token, see tokens.go) against
// the apiserver on port, with the CA and the credentials embedded.
func writeKubeconfig(dir, identity string, port int) error {
	ca, err := os.ReadFile(CACertPath(dir))
	if err != nil {
		return fmt.Errorf("write %s kubeconfig: %w", identity, err)
	}
	token, err := tokenOf(dir, identity)
	if err != nil {
		return fmt.Errorf("write %s kubeconfig: %w", identity, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[labContext] = &clientcmdapi.Cluster{
		Server:                   "https://" + hostPort(port),
		CertificateAuthorityData: ca,
	}
	cfg.AuthInfos[labContext] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[labContext] = &clientcmdapi.Context{Cluster: labContext, AuthInfo: labContext}
	cfg.CurrentContext = labContext
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("write %s kubeconfig: %w", identity, err)
	}
	return writeFile(kubeconfigPath(dir, identity), data, 0o600)
}

// restConfigFromKubeconfig loads a kubeconfig and raises the client rate limits, which default
// to 5 QPS and would slow tests down.
func restConfigFromKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	return cfg, nil
}
