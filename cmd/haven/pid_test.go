package main

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/havenproject/haven/netproto/client"
	"github.com/stretchr/testify/require"
)

func TestLocalPID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("localPID reads Linux's /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.Equal(t, os.Getpid(), localPID(ln.Addr().String()))
	dead := ln.Addr().String()
	ln.Close()
	require.Zero(t, localPID(dead))
}

func TestKillTarget(t *testing.T) {
	info := clusterInfo{leader: "127.0.0.1:1", leaderID: "n2", views: []nodeView{
		{ID: "n1", Address: "127.0.0.1:2", Status: &client.NodeStatus{}},
		{ID: "n2", Address: "127.0.0.1:1", Status: &client.NodeStatus{}},
	}}
	k, err := killTarget(info, "n1=10,n2=20")
	require.NoError(t, err)
	require.Equal(t, killInfo{id: "n2", pid: "20", address: "127.0.0.1:1"}, k)
	info.views[1].Status.PID = 30
	k, err = killTarget(info, "")
	require.NoError(t, err)
	require.Equal(t, "30", k.pid)
	_, err = killTarget(clusterInfo{}, "")
	require.Error(t, err)
}
