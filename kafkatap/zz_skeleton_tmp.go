// TEMPORARY: lead's compile skeleton, deleted when the helper's package lands.
package kafkatap

import (
	"log/slog"
	"github.com/segmentio/stats/v4"
	"context"
	"errors"
	"time"
)

type Config struct {
	Brokers []string
	Topics  []string
	Stats   *stats.Engine
	Log     *slog.Logger
}
type Sighting struct {
	Topic      string
	Partition  int
	Offset     int64
	Time       time.Time
	SeenAt     time.Time
	DeadLetter bool
	Headers    map[string]string
}

var ErrFull = errors.New("kafkatap: full")

type Tap struct{ topics []string }

func New(cfg Config) (*Tap, error)                  { return &Tap{topics: cfg.Topics}, nil }
func (t *Tap) Start(ctx context.Context) error      { return nil }
func (t *Tap) Watch(key string) error               { return nil }
func (t *Tap) Sightings(key string) []Sighting      { return nil }
func (t *Tap) Forget(key string)                    {}
func (t *Tap) Sync(ctx context.Context) error       { return nil }
func (t *Tap) Close() error                         { return nil }
func (t *Tap) Topics() []string                     { return t.topics }
func (t *Tap) Err() error                           { return nil }
