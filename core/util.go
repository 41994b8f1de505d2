package core

import "strconv"

func itoa(n int32) string { return strconv.Itoa(int(n)) }
