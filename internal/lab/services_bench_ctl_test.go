package lab

import "github.com/palisade-net/palisade/internal/nft"

func newServiceBenchController() *Controller {
	return &Controller{servicesApplied: map[string]string{}, serviceTables: map[string]*nft.Table{}}
}
