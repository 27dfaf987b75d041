package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/gossip"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
)

// GossipKeyring is the node's gossip keyring (node/keyring.go): changes
// take effect in gossip at once and are persisted.
type GossipKeyring interface {
	List() (primaryID string, ids []string)
	Install(key []byte) error
	Use(key []byte) error
	Remove(key []byte) error
}

var errNoKeyring = errors.New("this node serves no gossip keyring")

// decodeKey parses a key from a request. The error never echoes the key.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) != gossip.KeySize {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("key: want the base64 encoding of %d bytes", gossip.KeySize))
	}
	return key, nil
}

// keyringCall runs one keyring change and maps its error.
func (h *securityService) keyringCall(op, key string, fn func(GossipKeyring, []byte) error) error {
	kr := h.s.opts.Keyring
	if kr == nil {
		return connect.NewError(connect.CodeUnimplemented, errNoKeyring)
	}
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	if err := fn(kr, k); err != nil {
		// gossip's errors name key IDs, never keys.
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s gossip key %s: %w", op, gossip.KeyID(k), err))
	}
	h.s.log.Info("gossip keyring changed", "op", op, "key", gossip.KeyID(k))
	return nil
}

// GossipKeyring implements cairn.security.v1.SecurityService.
func (h *securityService) GossipKeyring(context.Context, *connect.Request[securityv1.GossipKeyringRequest]) (*connect.Response[securityv1.GossipKeyringResponse], error) {
	kr := h.s.opts.Keyring
	if kr == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errNoKeyring)
	}
	primary, ids := kr.List()
	return connect.NewResponse(&securityv1.GossipKeyringResponse{PrimaryKeyId: primary, KeyIds: ids}), nil
}

// InstallGossipKey implements cairn.security.v1.SecurityService.
func (h *securityService) InstallGossipKey(_ context.Context, req *connect.Request[securityv1.InstallGossipKeyRequest]) (*connect.Response[securityv1.InstallGossipKeyResponse], error) {
	err := h.keyringCall("install", req.Msg.Key, GossipKeyring.Install)
	return connect.NewResponse(&securityv1.InstallGossipKeyResponse{}), err
}

// UseGossipKey implements cairn.security.v1.SecurityService.
func (h *securityService) UseGossipKey(_ context.Context, req *connect.Request[securityv1.UseGossipKeyRequest]) (*connect.Response[securityv1.UseGossipKeyResponse], error) {
	err := h.keyringCall("use", req.Msg.Key, GossipKeyring.Use)
	return connect.NewResponse(&securityv1.UseGossipKeyResponse{}), err
}

// RemoveGossipKey implements cairn.security.v1.SecurityService.
func (h *securityService) RemoveGossipKey(_ context.Context, req *connect.Request[securityv1.RemoveGossipKeyRequest]) (*connect.Response[securityv1.RemoveGossipKeyResponse], error) {
	err := h.keyringCall("remove", req.Msg.Key, GossipKeyring.Remove)
	return connect.NewResponse(&securityv1.RemoveGossipKeyResponse{}), err
}
