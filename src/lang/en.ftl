### vestibule's texts in English: the reference. Every built-in language
### has exactly these messages; a translations directory may override any
### of them, or add a language with all of them (see README, Languages).

# The language's own name, in the language picker.
language-name = English

## The waiting page

# The tab's title, followed by " – " and the room's title.
waiting-title-place = In line: place { $position }
waiting-title-next = In line: next
waiting-title-drawn = In line: place drawn at the opening
waiting-heading = You are in line
# $order: "arrival" (first come, first in), "drawn" (the order drawn at
# random when the doors opened), or "none" (to be drawn at the opening).
waiting-why = { $order ->
    [arrival] Many people are trying to get in right now. To keep the site working for everyone, we let visitors in a few at a time, in the order they arrived.
    [drawn] Many people are trying to get in right now. To keep the site working for everyone, we let visitors in a few at a time, in the order drawn at random when the doors opened.
   *[none] Many people are trying to get in right now. To keep the site working for everyone, we let visitors in a few at a time.
}
waiting-keep-open = Keep this page open: it moves you forward on its own, and you keep your place if you reload.
# What happens if the visitor closes the page, as the room's settings
# make it true. $ticket: how long a ticket lives from joining the line;
# $turn: how long after their turn comes a visitor who is away may still
# come back and go in at the next free place (both written out, time-*).
waiting-close = If you close this page, your place is kept in this browser for up to { $ticket } after you joined the line: open this address again to carry on. If your turn comes while you are away, come back within { $turn } and you go in at the next free place.
# Without JavaScript the page refreshes itself; the visitor may stop that
# (WCAG 2.2.1), and start it again.
waiting-refreshing = This page refreshes itself every few seconds to move you forward.
waiting-stop-refreshing = Stop refreshing
waiting-still = This page no longer refreshes on its own, and you keep your place.
waiting-check-now = Check my place now
waiting-refresh-again = Refresh on its own again
# A newer tab of this browser follows the same place: this older one
# stops checking (JavaScript only).
waiting-other-tab = This place in line is now followed in another tab of this browser, so this tab has stopped checking. You can close it.
waiting-follow-here = Follow it in this tab
# Before an event's doors open. $time: when (in the visitor's own time
# zone with JavaScript, else in UTC); $left: an estimate (eta-*).
waiting-opens = The doors open at { $time }. Time left: { $left }. You are in line already: keep this page open.
waiting-shuffle = When the doors open, the places of everyone already in line are drawn at random: joining early or late before then makes no difference, and reloading does not change your draw. People who arrive after the opening line up behind.
waiting-place-label = Your place in line
waiting-place-next = next
waiting-place-drawn = drawn when the doors open
# $count: the people ahead in line (the place minus one).
waiting-ahead = { $count ->
    [0] Nobody ahead of you
    [one] { $count } person ahead of you
   *[other] { $count } people ahead of you
}
waiting-eta-label = Estimated wait
waiting-updated = Last updated { $time }.
waiting-estimate-source = The estimate comes from how fast the line has moved in the last few minutes, or, before it has moved, from the room’s settings.
# The language picker's label, for screen readers.
waiting-languages = Language
# The page sent when a custom template fails. $place: the place in line.
waiting-plain = You are in line. Your place: { $place }. This page refreshes on its own.

## The estimated wait

eta-measuring = measuring…
eta-few-seconds = a few seconds
eta-under-minute = less than a minute
eta-minutes = { $minutes ->
    [one] about { $minutes } minute
   *[other] about { $minutes } minutes
}
eta-hours = about { $hours } h { $minutes } min
eta-paused = admissions are paused for now; you keep your place
eta-draw = known once the places are drawn, when the doors open

## Lengths of time, written out (how long a place is kept)

time-hours = { $n ->
    [one] { $n } hour
   *[other] { $n } hours
}
time-minutes = { $n ->
    [one] { $n } minute
   *[other] { $n } minutes
}
time-seconds = { $n ->
    [one] { $n } second
   *[other] { $n } seconds
}

## The status JSON's `message`, for apps

status-queued = Your place in line: { $position }. Estimated wait: { $eta }
status-next = You are next: a place frees up for you in a few seconds.
status-prequeue = The doors open at { $time }. Your place in line: { $position }.
status-prequeue-drawn = The doors open at { $time }. Places are drawn at random at the opening.
status-admitted = It is your turn: open the page again to go on.
status-closed = { $room } is closed.

## Short pages: errors and refusals

message-retry = { $seconds ->
    [one] You can try again in { $seconds } second.
   *[other] You can try again in { $seconds } seconds.
}
# The link that loads the page again.
message-try-again = Try again
closed-title = { $room } is closed
closed-text = It is not open now.
# After the notice or closed-text, when a form was refused.
closed-not-sent = Nothing was sent.
refused-title = You are in line
refused-text = Your request was not sent to the site: you are in line, and the site takes visitors in turn. Nothing was submitted. Keep your place by opening this address again.
unavailable-title = Please wait a moment
unavailable-text = The waiting room is catching its breath. A place you already have in line is kept; try again in a moment.
timeout-title = The site is taking too long
timeout-text = The site did not answer in time. Please try again in a moment.
unreachable-title = The site is not reachable
unreachable-text = The site could not be reached. Please try again in a moment.
incomplete-title = The request was incomplete
incomplete-slow = Your browser took too long to send the request. Please try again.
incomplete-cut = Your browser did not send the whole request. Please try again.
malformed-title = This request cannot be served
malformed-coding = The request's body is sent in a way this site does not accept.
malformed-request = The address or the headers of this request are not valid.
not-found-title = Not found
not-found-text = No such page.
