package orbital

import (
	"regexp"
	"strings"
)

// testifyLabel matches a label line of a testify failure ("\tError:      \tmessage").
var testifyLabel = regexp.MustCompile(`^\t([A-Z][A-Za-z ]*):\s*\t(.*)$`)

// testifyMore matches a continuation line of a testify label's content.
var testifyMore = regexp.MustCompile(`^\t +\t(.*)$`)

// leadWithMessage returns msg, a failure message, with its point first. A
// testify assertion fails with a block that opens with the file paths of its
// "Error Trace:" and only then says what went wrong ("Error:", then "Test:"
// and "Messages:"); for such a block it returns the Error, then the
// Messages, then the trace on one line, so that a status row or a log line
// reads "Not equal: ..." rather than a path. Any other message is returned
// as it is. The run's output keeps the block as testify wrote it.
func leadWithMessage(msg string) string {
	body := strings.TrimLeft(msg, "\n")
	if !strings.HasPrefix(body, "\tError Trace:") {
		return msg
	}
	var order []string
	content := map[string][]string{}
	label := ""
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if m := testifyLabel.FindStringSubmatch(line); m != nil {
			label = m[1]
			if _, dup := content[label]; dup {
				return msg
			}
			order = append(order, label)
			content[label] = []string{m[2]}
			continue
		}
		if m := testifyMore.FindStringSubmatch(line); m != nil && label != "" {
			content[label] = append(content[label], m[1])
			continue
		}
		return msg // not testify's layout after all
	}
	errLines, ok := content["Error"]
	if !ok {
		return msg
	}
	out := strings.TrimRight(strings.Join(errLines, "\n"), " \n")
	if m := content["Messages"]; m != nil {
		out += "\nMessages: " + strings.Join(m, "\n")
	}
	for _, l := range order {
		if l != "Error" && l != "Messages" && l != "Test" {
			out += "\n" + l + ": " + strings.Join(content[l], " ")
		}
	}
	return out
}
