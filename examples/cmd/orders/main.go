// Command orders runs the example order service (package examples/orders):
// POST /orders, confirmed by a webhook call with the id in X-Order-Id, or by
// a message on a Kafka topic keyed by the id.
//
//	go run ./examples/cmd/orders --callback http://127.0.0.1:9090/webhook --secret demo
//	go run ./examples/cmd/orders --brokers 127.0.0.1:9092 --topic order-confirmations
//
// --faults drop (or dup) makes it lose (or duplicate) every confirmation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/orbital-e2e/orbital/examples/orders"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8082", "listen address of POST /orders")
	callback := fs.String("callback", "", "URL that receives the confirmations (webhook output)")
	secret := fs.String("secret", os.Getenv("ORDERS_SECRET"), "HMAC key signing the callbacks (env ORDERS_SECRET)")
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers (Kafka output, with --topic)")
	topic := fs.String("topic", "", "Kafka topic that receives the confirmations")
	faults := fs.String("faults", "", `"drop" or "dup": lose or duplicate every confirmation`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var f orders.Faults
	switch *faults {
	case "":
	case "drop":
		f.Drop = true
	case "dup":
		f.Duplicate = true
	default:
		fmt.Fprintf(stderr, "orders: --faults %q: want drop or dup\n", *faults)
		return 2
	}
	cfg := orders.Config{CallbackURL: *callback, Secret: []byte(*secret), Topic: *topic,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if *brokers != "" {
		cfg.Brokers = strings.Split(*brokers, ",")
	}
	svc, err := orders.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer svc.Close()
	svc.SetFaults(f)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "orders: POST http://%s/orders\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
