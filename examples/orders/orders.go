// Package orders is a tiny order service for orbital's examples: a system
// under test that is not Segment-shaped. POST /orders accepts an order
//
//	{"id":"4f1c…","item":"coffee beans","quantity":2}
//
// answers 202, and confirms it asynchronously, either by calling a webhook
// (POST Config.CallbackURL with the id in the X-Order-Id header, signed as
// Standard Webhooks when Config.Secret is set) or by writing a message to a
// Kafka topic (Config.Topic, keyed by the id). The confirmation's body is
//
//	{"orderId":"4f1c…","item":"coffee beans","quantity":2,"status":"confirmed"}
//
// Faults (SetFaults) make it drop or duplicate confirmations, so a tester
// can be watched catching both. Like examples/pipeline it is someone
// else's service: it knows nothing of orbital.
package orders

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Order is what POST /orders accepts.
type Order struct {
	ID       string `json:"id"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// Confirmation is what the service sends back for an order.
type Confirmation struct {
	OrderID  string `json:"orderId"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
	Status   string `json:"status"`
}

// Faults are the failures the service can inject.
type Faults struct {
	Drop      bool // confirm nothing
	Duplicate bool // confirm every order twice
}

// Config configures a Service. Set CallbackURL, or Brokers and Topic.
type Config struct {
	// CallbackURL receives the confirmations by POST, with the order id in
	// the X-Order-Id header.
	CallbackURL string
	// Secret, when set, signs each callback as Standard Webhooks
	// (https://www.standardwebhooks.com): webhook-id (one per confirmation,
	// the same on its retries), webhook-timestamp (Unix seconds of the
	// attempt) and webhook-signature "v1,<base64 HMAC-SHA256 of
	// id.timestamp.body>". Default: unsigned.
	Secret []byte
	// Brokers and Topic: write confirmations to this Kafka topic, keyed by
	// the order id, instead of calling back.
	Brokers []string
	Topic   string
	// Client makes the callbacks. Default: a client with a 10s timeout.
	Client *http.Client
	// QueueSize bounds the confirmations waiting to be sent; POST /orders
	// answers 503 when it is full. Default: 1000.
	QueueSize int
	// Logger receives delivery failures. Default: slog.Default().
	Logger *slog.Logger
}

// Service is the order service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	writer *kafka.Writer
	queue  chan Confirmation
	faults atomic.Pointer[Faults]
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New returns a running Service; Close stops it.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.CallbackURL == "" && cfg.Topic == "":
		return nil, errors.New("orders: set Config.CallbackURL or Config.Topic")
	case cfg.CallbackURL != "" && cfg.Topic != "":
		return nil, errors.New("orders: set Config.CallbackURL or Config.Topic, not both")
	case cfg.Topic != "" && len(cfg.Brokers) == 0:
		return nil, errors.New("orders: Config.Topic needs Config.Brokers")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, queue: make(chan Confirmation, cfg.QueueSize), done: make(chan struct{})}
	if cfg.Topic != "" {
		s.writer = &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.Topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond,
		}
	}
	s.faults.Store(&Faults{})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.confirmLoop()
	return s, nil
}

// SetFaults sets the faults from now on.
func (s *Service) SetFaults(f Faults) { s.faults.Store(&f) }

// Handler serves POST /orders.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.handleOrder)
	return mux
}

func (s *Service) handleOrder(w http.ResponseWriter, r *http.Request) {
	var o Order
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&o); err != nil {
		http.Error(w, "orders: body is not an order: "+err.Error(), http.StatusBadRequest)
		return
	}
	if o.ID == "" || o.Item == "" || o.Quantity <= 0 {
		http.Error(w, "orders: an order needs an id, an item and a positive quantity", http.StatusBadRequest)
		return
	}
	select {
	case s.queue <- Confirmation{OrderID: o.ID, Item: o.Item, Quantity: o.Quantity, Status: "confirmed"}:
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "orders: too many orders waiting for confirmation", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": o.ID, "status": "accepted"})
}

// confirmLoop sends the queued confirmations until Close.
func (s *Service) confirmLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case c := <-s.queue:
			f := s.faults.Load()
			n := 1
			switch {
			case f.Drop:
				n = 0
			case f.Duplicate:
				n = 2
			}
			for range n {
				if err := s.confirm(c); err != nil {
					s.cfg.Logger.Warn("orders: confirmation failed", "order", c.OrderID, "err", err)
				}
			}
		}
	}
}

// confirm sends one confirmation, retrying a few times.
func (s *Service) confirm(c Confirmation) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	deliveryID := newDeliveryID() // a retry is the same delivery; a duplicate is a new one
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-s.ctx.Done():
				return errors.Join(s.ctx.Err(), last)
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		if last = s.send(c.OrderID, deliveryID, body); last == nil {
			return nil
		}
	}
	return last
}

// newDeliveryID returns a webhook-id: "msg_" and 128 random bits.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

func (s *Service) send(id, deliveryID string, body []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if s.writer != nil {
		return s.writer.WriteMessages(ctx, kafka.Message{Key: []byte(id), Value: body})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Order-Id", id)
	if len(s.cfg.Secret) > 0 {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, s.cfg.Secret)
		mac.Write([]byte(deliveryID + "." + ts + "."))
		mac.Write(body)
		req.Header.Set("webhook-id", deliveryID)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		return fmt.Errorf("callback: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback answered %s", resp.Status)
	}
	return nil
}

// Close stops sending confirmations (those still queued are not sent) and
// waits for the one in flight. It is idempotent.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		<-s.done
		if s.writer != nil {
			err = s.writer.Close()
		}
	})
	return err
}
