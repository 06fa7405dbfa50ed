//go:build !linux

package suspend

import "errors"

// watchNetwork is Linux's (route netlink); elsewhere network changes are not
// watched.
func watchNetwork() (<-chan struct{}, func(), error) {
	return nil, nil, errors.New("suspend: network changes are watched on Linux only")
}
