package uplink

import (
	"strings"

	"github.com/edgegw/edgegw/config"
)

// DialConfigFor turns a [cloud] table into dial settings, for the gateway and edgegw-console alike: the
// one place where the cloud secrets leave config.Secret.
func DialConfigFor(c config.Cloud, containerID string) DialConfig {
	d := DialConfig{URL: c.URL, CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, SASL: c.Mechanism(),
		Username: c.Username, Password: c.Password.Reveal(), InsecurePlaintext: c.InsecurePlaintext, Proxy: c.Proxy,
		WebSocketSubprotocol: c.WebSocketSubprotocol, ContainerID: containerID}
	if auth := c.ProxyAuth.Reveal(); auth != "" {
		d.ProxyUser, d.ProxyPassword, _ = strings.Cut(auth, ":")
	}
	return d
}
