package legacylease

import (
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// How the ControllerService server embeds Service: the Unimplemented server one level deeper,
// so that Service's four methods win over its stubs. This fails to compile if they clash.
type unimplementedControllerService struct {
	jumpstarterv1.UnimplementedControllerServiceServer
}

type controllerServer struct {
	unimplementedControllerService
	*Service
}

var _ jumpstarterv1.ControllerServiceServer = controllerServer{}
