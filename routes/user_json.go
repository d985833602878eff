package routes

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

// AppendUserJSON appends the wire form of u to dst: the bytes json.Marshal(newUserJSON(u))
// gives (a test holds it to that), written without reflection, the custom status marshaller
// json.Marshal re-validates, or the intermediate strings. GET /auth/me is the hot path, and
// the bench's bare references encode through this too, so the comparison is of equal work.
func AppendUserJSON(dst []byte, u *models.User) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, u.ID)
	dst = append(dst, `","email":`...)
	dst = appendJSONString(dst, u.Email)
	dst = append(dst, `,"created_at":"`...)
	dst = u.CreatedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","status":{"status":`...)
	dst = appendJSONString(dst, string(u.Status))
	if u.Status == models.StatusSuspended {
		reason := ""
		if u.SuspensionReason != nil {
			reason = *u.SuspensionReason
		}
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, reason)
		dst = append(dst, `,"until":`...)
		if u.SuspendedUntil == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '"')
			dst = u.SuspendedUntil.UTC().AppendFormat(dst, time.RFC3339)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `},"role":`...)
	dst = appendJSONString(dst, string(u.Role))
	return append(dst, '}')
}

// AppendMeJSON appends GET /auth/me's body: the user object and "mfa_enabled".
func AppendMeJSON(dst []byte, u *models.User) []byte {
	dst = AppendUserJSON(dst, u)
	dst = append(dst[:len(dst)-1], `,"mfa_enabled":`...)
	dst = strconv.AppendBool(dst, u.MFAEnabled)
	return append(dst, '}')
}

func appendUUID(dst []byte, id uuid.UUID) []byte {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return append(dst, b[:]...)
}

// appendJSONString quotes s as encoding/json does by default: HTML-safe (<, >, & escaped),
// \b \f \n \r \t short forms, other control bytes as \u00XX, invalid UTF-8 as \ufffd, and
// U+2028/U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
