package oci

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTarSortsAddsParentsAndKeepsModes(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	data, err := Tar(map[string]Entry{
		"/usr/local/bin/kube":           {Data: []byte("ELF")},
		"/usr/local/bin/kube-apiserver": {Link: "kube"},
		"/tmp":                          {Dir: true, Mode: 0o1777},
		"/etc/conf":                     {Data: []byte("x"), Mode: 0o644},
	}, mtime)
	require.NoError(t, err)
	var got []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.Equal(t, mtime.Unix(), h.ModTime.Unix(), h.Name)
		assert.Equal(t, "root", h.Uname)
		got = append(got, h.Name+" "+h.FileInfo().Mode().String()+" "+h.Linkname)
	}
	assert.Equal(t, []string{
		"etc/ drwxr-xr-x ", "etc/conf -rw-r--r-- ",
		"tmp/ dtrwxrwxrwx ",
		"usr/ drwxr-xr-x ", "usr/local/ drwxr-xr-x ", "usr/local/bin/ drwxr-xr-x ",
		"usr/local/bin/kube -rwxr-xr-x ", "usr/local/bin/kube-apiserver Lrwxrwxrwx kube",
	}, got)

	again, err := Tar(map[string]Entry{
		"/etc/conf":                     {Data: []byte("x"), Mode: 0o644},
		"/tmp":                          {Dir: true, Mode: 0o1777},
		"/usr/local/bin/kube-apiserver": {Link: "kube"},
		"/usr/local/bin/kube":           {Data: []byte("ELF")},
	}, mtime)
	require.NoError(t, err)
	assert.Equal(t, data, again, "the same tree, the same bytes")
}

func TestTarRefusesBadPaths(t *testing.T) {
	for name, tree := range map[string]map[string]Entry{
		"relative":       {"usr/bin/x": {Data: []byte("x")}},
		"unclean":        {"/usr/../x": {Data: []byte("x")}},
		"root":           {"/": {Dir: true}},
		"file as parent": {"/a": {Data: []byte("x")}, "/a/b": {Data: []byte("y")}},
		"link as parent": {"/a": {Link: "b"}, "/a/b": {Data: []byte("y")}},
	} {
		_, err := Tar(tree, time.Unix(0, 0))
		assert.ErrorIs(t, err, ErrPath, name)
	}
}

func TestCheckStatic(t *testing.T) {
	assert.ErrorIs(t, CheckStatic([]byte("#!/bin/sh\n")), ErrNotStatic)
}
