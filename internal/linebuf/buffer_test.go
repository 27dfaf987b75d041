package linebuf_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/linebuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collect reads every line of a channel that gets closed.
func collect(ch <-chan string) []string {
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}

func notice(n int) string { return fmt.Sprintf("[%d dropped]", n) }

func TestLinesWithoutFollowReturnsTheTail(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 3})
	b.Add("a", "b")
	b.Add("c")
	b.Add("d")
	for _, tc := range []struct {
		tail int
		want []string
	}{
		{-1, []string{"b", "c", "d"}},
		{2, []string{"c", "d"}},
		{10, []string{"b", "c", "d"}},
		{0, nil},
	} {
		ch, cancel := b.Lines(tc.tail, false)
		assert.Equal(t, tc.want, collect(ch), "tail %d", tc.tail)
		cancel()
	}
}

func TestFollowSendsTheTailThenNewLines(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 10})
	b.Add("one", "two")
	ch, cancel := b.Lines(1, true)
	b.Add("three")
	assert.Equal(t, []string{"two", "three"}, []string{<-ch, <-ch})

	cancel()
	_, open := <-ch
	assert.False(t, open, "the stream is closed when cancel returns")
	b.Add("after cancel")
	cancel() // a second call is harmless
}

// TestSlowFollowerLosesOldestLines fills a follower's queue past its limit
// without reading: the writer is never blocked, and the reader learns how
// many lines it lost before getting the newest ones.
func TestSlowFollowerLosesOldestLines(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 3, Dropped: notice})
	ch, cancel := b.Lines(0, true)
	defer cancel()
	// One Add queues all lines under one lock, so the delivering goroutine
	// cannot take a batch in between.
	b.Add("line 0", "line 1", "line 2", "line 3", "line 4")
	require.Equal(t, "[2 dropped]", <-ch)
	require.Equal(t, []string{"line 2", "line 3", "line 4"}, []string{<-ch, <-ch, <-ch})
}

// TestSlowFollowerQueueHasTheByteBound: a follower's queue is bounded
// like the buffer, bytes included.
func TestSlowFollowerQueueHasTheByteBound(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 100, MaxBytes: 8, Dropped: notice})
	ch, cancel := b.Lines(0, true)
	defer cancel()
	b.Add("aaaa", "bbbb", "cccc", strings.Repeat("d", 20))
	require.Equal(t, "[3 dropped]", <-ch)
	require.Equal(t, "dddddddd", <-ch, "cut to the byte bound")
}

func TestDefaultNotice(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 1})
	ch, cancel := b.Lines(0, true)
	defer cancel()
	b.Add("a", "b")
	require.Equal(t, "1 lines dropped for a slow reader", <-ch)
	require.Equal(t, "b", <-ch)
}

// TestSlowFollowerDoesNotBlockTheWriter writes far more than a follower's
// queue holds while nobody reads: every line is either delivered or
// counted, and no more are held than a batch being sent plus the queue.
func TestSlowFollowerDoesNotBlockTheWriter(t *testing.T) {
	const limit, total = 10, 500
	b := linebuf.New(linebuf.Options{MaxLines: limit, Dropped: notice})
	ch, cancel := b.Lines(0, true)
	defer cancel()
	for i := range total { // nobody reads ch meanwhile: this must not block
		b.Add(fmt.Sprintf("line %d", i))
	}
	received, dropped := 0, 0
	for line := range ch {
		var n int
		if _, err := fmt.Sscanf(line, "[%d dropped]", &n); err == nil {
			dropped += n
			continue
		}
		received++
		if line == fmt.Sprintf("line %d", total-1) {
			break
		}
	}
	assert.Positive(t, dropped)
	assert.Equal(t, total, received+dropped, "every line is either delivered or counted")
	assert.LessOrEqual(t, received, 2*limit)
}

// TestCloseEndsFollows: Close ends every follow, and a follow asked for
// after Close gets the tail only.
func TestCloseEndsFollows(t *testing.T) {
	b := linebuf.New(linebuf.Options{MaxLines: 10})
	b.Add("kept")
	ch, cancel := b.Lines(-1, true)
	defer cancel()
	require.Equal(t, "kept", <-ch)
	b.Close()
	assert.Empty(t, collect(ch), "the follow ends")

	b.Add("after close")
	late, cancelLate := b.Lines(-1, true)
	defer cancelLate()
	assert.Equal(t, []string{"kept", "after close"}, collect(late))
}
