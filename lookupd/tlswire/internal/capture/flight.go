package main

import "errors"

func captureFlights(dir string) error { return errors.New("not yet") }
