//go:build !unix

package receipt

func cpuTime() int64 { return -1 }
