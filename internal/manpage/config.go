package manpage

import (
	"fmt"
	"strings"
)

// ConfigBlocks turns an example configuration file written as
// contrib/config.example.toml is (a comment header, then [sections] whose
// keys each follow their comment) into the blocks of a manual page: the
// header's paragraphs, then per section a heading and one tagged paragraph
// per key ("key = default" and its comment).
func ConfigBlocks(text string) (header, body []Block, err error) {
	var comment []string
	inHeader := true
	lines := strings.Split(text, "\n")
	flushHeader := func() {
		if len(comment) > 0 {
			header = append(header, paragraphs(comment)...)
		}
		comment = nil
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(line, "#"):
			comment = append(comment, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
		case line == "":
			if inHeader {
				flushHeader()
			} else if len(comment) > 0 {
				comment = append(comment, "")
			}
		case strings.HasPrefix(line, "["):
			if inHeader {
				flushHeader()
				inHeader = false
			}
			body = append(body, S(line))
			if len(comment) > 0 {
				body = append(body, paragraphs(comment)...)
			}
			comment = nil
		default:
			key, _, ok := strings.Cut(line, "=")
			if !ok {
				return nil, nil, fmt.Errorf("line %d: neither comment, section nor key: %q", i+1, line)
			}
			value := line
			// An array over several lines: its items, joined.
			if strings.HasSuffix(line, "[") {
				var items []string
				for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "]"; i++ {
					items = append(items, strings.TrimSpace(lines[i]))
				}
				value = strings.TrimSpace(key) + " = [" + strings.TrimSuffix(strings.Join(items, " "), ",") + "]"
			}
			// The comment's first paragraph is the key's; any further
			// ones (a verbatim example, a list) follow it as they are.
			paras := paragraphs(comment)
			text := ""
			if len(paras) > 0 && paras[0].Kind == Prose {
				text, paras = paras[0].Text, paras[1:]
			}
			body = append(body, T(value, text))
			body = append(body, paras...)
			comment = nil
		}
	}
	if inHeader {
		return nil, nil, fmt.Errorf("no [section] found")
	}
	return header, body, nil
}

// paragraphs splits comment lines into prose paragraphs at empty lines;
// lines indented by two spaces or more are kept verbatim.
func paragraphs(lines []string) []Block {
	var out []Block
	var cur []string
	verbatim := false
	flush := func() {
		if len(cur) == 0 {
			return
		}
		if verbatim {
			out = append(out, V(strings.Join(cur, "\n")))
		} else {
			out = append(out, P(strings.Join(cur, " ")))
		}
		cur = nil
	}
	for _, l := range lines {
		v := strings.HasPrefix(l, "  ")
		if l == "" || v != verbatim {
			flush()
			verbatim = v
		}
		if l != "" {
			cur = append(cur, l)
		}
	}
	flush()
	return out
}
