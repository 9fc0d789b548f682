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

## The status JSON's `message`, for apps

status-queued = Your place in line: { $position }. Estimated wait: { $eta }
status-next = You are next: a place frees up for you in a few seconds.
status-prequeue = The doors open at { $time }. Your place in line: { $position }.
status-prequeue-drawn = The doors open at { $time }. Places are drawn at random at the opening.
status-admitted = It is your turn: open the page again to go on.
status-closed = { $room } is closed.

## Short pages: errors and refusals

message-retry = { $seconds ->
    [one] This page tries again in { $seconds } second.
   *[other] This page tries again in { $seconds } seconds.
}
closed-title = { $room } is closed
closed-text = It is not open now.
# After the notice or closed-text, when a form was refused.
closed-not-sent = Nothing was sent.
refused-title = You are in line
refused-text = Your request was not sent to the site: you are in line, and the site takes visitors in turn. Nothing was submitted. Keep your place by opening this address again.
unavailable-title = Please wait a moment
unavailable-text = The waiting room is catching its breath. A place you already have in line is kept; this page tries again shortly.
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
