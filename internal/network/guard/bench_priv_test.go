package guard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"banger/internal/execx"
	"banger/internal/network/netnstest"
)

// BenchmarkBind measures one Bind (one nft transaction) with 50 other
// TAPs bound, inside a throwaway namespace.
func BenchmarkBind(b *testing.B) {
	netnstest.Require(b, "ip", "nft")
	ns := netnstest.New(b)
	path, err := execx.LookPath("nft")
	if err != nil {
		b.Fatal(err)
	}
	g := New(NFT{Path: path})
	ctx := context.Background()
	bind := func(i int) Binding {
		return Binding{TAP: fmt.Sprintf("bgt-%08x", i), MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)},
			IP: netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i%250 + 2)}), Tag: "u1000:bench"}
	}
	ns.Do(b, func() {
		for i := range 50 {
			if err := g.Bind(ctx, bind(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			if err := g.Bind(ctx, bind(100+i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
