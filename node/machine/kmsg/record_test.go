package kmsg_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/kmsg"
)

func TestParseRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want kmsg.Record
	}{
		{
			name: "kernel info",
			raw:  "6,339,5140900,-;NET: Registered protocol family 10\n",
			want: kmsg.Record{Facility: 0, Priority: 6, Sequence: 339, SinceBoot: 5140900 * time.Microsecond, Message: "NET: Registered protocol family 10"},
		},
		{
			name: "user facility error with a dictionary",
			raw:  "11,1020,70123456,-;cairnd: started\n SUBSYSTEM=net\n DEVICE=n2\n",
			want: kmsg.Record{Facility: 1, Priority: 3, Sequence: 1020, SinceBoot: 70123456 * time.Microsecond, Message: "cairnd: started"},
		},
		{
			name: "continuation with reserved fields",
			raw:  "4,77,1000,c,extra;more text\n",
			want: kmsg.Record{Priority: 4, Sequence: 77, SinceBoot: time.Millisecond, Continued: true, Message: "more text"},
		},
		{
			name: "escaped bytes",
			raw:  `3,5,0,-;tab\x09here \x5c and \xZZ stays` + "\n",
			want: kmsg.Record{Priority: 3, Sequence: 5, Message: "tab\there \\ and \\xZZ stays"},
		},
		{
			name: "escape at the very end",
			raw:  `6,6,1,-;ends with \x7f`,
			want: kmsg.Record{Priority: 6, Sequence: 6, SinceBoot: time.Microsecond, Message: "ends with \x7f"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kmsg.Parse([]byte(tc.raw))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseRejectsWhatIsNotARecord(t *testing.T) {
	for _, raw := range []string{"", "no header here\n", "6,1,2;too few fields\n", "x,1,2,-;bad priority\n", "6,y,2,-;bad sequence\n", "6,1,-5,-;negative time\n"} {
		_, err := kmsg.Parse([]byte(raw))
		assert.ErrorIs(t, err, kmsg.ErrMalformed, "%q", raw)
	}
}
