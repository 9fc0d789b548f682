### Die Texte von vestibule auf Deutsch (Anrede mit „Sie“).

language-name = Deutsch

## Die Warteseite

waiting-title-place = In der Warteschlange: Platz { $position }
waiting-title-next = In der Warteschlange: gleich an der Reihe
waiting-title-drawn = In der Warteschlange: Platz wird bei der Öffnung ausgelost
waiting-heading = Sie sind in der Warteschlange
waiting-why = { $order ->
    [arrival] Gerade versuchen sehr viele Menschen, auf die Website zu kommen. Damit sie für alle erreichbar bleibt, lassen wir die Besucher nach und nach herein, in der Reihenfolge ihrer Ankunft.
    [drawn] Gerade versuchen sehr viele Menschen, auf die Website zu kommen. Damit sie für alle erreichbar bleibt, lassen wir die Besucher nach und nach herein, in der bei der Öffnung ausgelosten Reihenfolge.
   *[none] Gerade versuchen sehr viele Menschen, auf die Website zu kommen. Damit sie für alle erreichbar bleibt, lassen wir die Besucher nach und nach herein.
}
waiting-keep-open = Lassen Sie diese Seite geöffnet: Sie rücken von selbst vor, und Ihr Platz bleibt erhalten, wenn Sie die Seite neu laden.
waiting-close = Wenn Sie diese Seite schließen, bleibt Ihr Platz in diesem Browser bis zu { $ticket } nach Ihrer Ankunft in der Warteschlange erhalten: Öffnen Sie diese Adresse erneut, um fortzufahren. Sind Sie an der Reihe, während Sie nicht da sind, kommen Sie innerhalb von { $turn } zurück; dann werden Sie beim nächsten freien Platz eingelassen.
waiting-refreshing = Diese Seite aktualisiert sich alle paar Sekunden selbst, damit Sie vorankommen.
waiting-stop-refreshing = Aktualisierung anhalten
waiting-still = Diese Seite aktualisiert sich nicht mehr selbst; Ihren Platz behalten Sie.
waiting-check-now = Meinen Platz jetzt prüfen
waiting-refresh-again = Wieder selbst aktualisieren
waiting-other-tab = Dieser Platz in der Warteschlange wird jetzt in einem anderen Tab dieses Browsers verfolgt; dieser Tab fragt nicht mehr nach. Sie können ihn schließen.
waiting-follow-here = In diesem Tab verfolgen
waiting-opens = Einlass ab { $time }. Verbleibende Zeit: { $left }. Sie stehen bereits in der Warteschlange: Lassen Sie diese Seite geöffnet.
waiting-shuffle = Bei der Öffnung werden die Plätze aller, die schon in der Warteschlange stehen, ausgelost: Ob Sie bis dahin früher oder später dazukommen, spielt keine Rolle, und Neuladen ändert nichts an Ihrem Los. Wer nach der Öffnung kommt, stellt sich hinten an.
waiting-place-label = Ihr Platz in der Warteschlange
waiting-place-next = als Nächstes
waiting-place-drawn = wird bei der Öffnung ausgelost
waiting-ahead = { $count ->
    [0] Niemand vor Ihnen
    [one] { $count } Person vor Ihnen
   *[other] { $count } Personen vor Ihnen
}
waiting-eta-label = Geschätzte Wartezeit
waiting-updated = Zuletzt aktualisiert: { $time }.
waiting-estimate-source = Die Schätzung beruht darauf, wie schnell die Warteschlange in den letzten Minuten vorangekommen ist, oder, solange sie sich noch nicht bewegt hat, auf den Einstellungen des Raums.
waiting-languages = Sprache
waiting-plain = Sie sind in der Warteschlange. Ihr Platz: { $place }. Diese Seite aktualisiert sich von selbst.

## Die geschätzte Wartezeit

eta-measuring = wird ermittelt…
eta-few-seconds = wenige Sekunden
eta-under-minute = weniger als eine Minute
eta-minutes = { $minutes ->
    [one] etwa { $minutes } Minute
   *[other] etwa { $minutes } Minuten
}
eta-hours = etwa { $hours } Std. { $minutes } Min.
eta-paused = der Einlass ist vorübergehend angehalten; Ihr Platz bleibt erhalten
eta-draw = steht fest, sobald die Plätze bei der Öffnung ausgelost sind

## Zeitspannen, ausgeschrieben

time-hours = { $n ->
    [one] { $n } Stunde
   *[other] { $n } Stunden
}
time-minutes = { $n ->
    [one] { $n } Minute
   *[other] { $n } Minuten
}
time-seconds = { $n ->
    [one] { $n } Sekunde
   *[other] { $n } Sekunden
}

## Das Feld `message` im Status-JSON, für Apps

status-queued = Ihr Platz in der Warteschlange: { $position }. Geschätzte Wartezeit: { $eta }
status-next = Sie sind gleich an der Reihe: In wenigen Sekunden wird ein Platz für Sie frei.
status-prequeue = Einlass ab { $time }. Ihr Platz in der Warteschlange: { $position }.
status-prequeue-drawn = Einlass ab { $time }. Die Plätze werden bei der Öffnung ausgelost.
status-admitted = Sie sind an der Reihe: Öffnen Sie die Seite erneut, um fortzufahren.
status-closed = { $room } ist geschlossen.

## Kurze Seiten: Fehler und Ablehnungen

message-retry = { $seconds ->
    [one] Sie können es in { $seconds } Sekunde erneut versuchen.
   *[other] Sie können es in { $seconds } Sekunden erneut versuchen.
}
message-try-again = Erneut versuchen
closed-title = { $room } ist geschlossen
closed-text = Zurzeit ist hier nicht geöffnet.
closed-not-sent = Es wurde nichts gesendet.
refused-title = Sie sind in der Warteschlange
refused-text = Ihre Anfrage wurde nicht an die Website weitergeleitet: Sie stehen in der Warteschlange, und die Website lässt die Besucher der Reihe nach herein. Es wurde nichts übermittelt. Öffnen Sie diese Adresse erneut, um Ihren Platz zu behalten.
unavailable-title = Bitte warten Sie einen Moment
unavailable-text = Der Warteraum braucht einen Augenblick. Einen Platz, den Sie schon in der Warteschlange haben, behalten Sie; versuchen Sie es gleich noch einmal.
timeout-title = Die Website braucht zu lange
timeout-text = Die Website hat nicht rechtzeitig geantwortet. Bitte versuchen Sie es gleich noch einmal.
unreachable-title = Die Website ist nicht erreichbar
unreachable-text = Die Website konnte nicht erreicht werden. Bitte versuchen Sie es gleich noch einmal.
incomplete-title = Die Anfrage war unvollständig
incomplete-slow = Ihr Browser hat zu lange gebraucht, um die Anfrage zu senden. Bitte versuchen Sie es noch einmal.
incomplete-cut = Ihr Browser hat die Anfrage nicht vollständig gesendet. Bitte versuchen Sie es noch einmal.
malformed-title = Diese Anfrage kann nicht bearbeitet werden
malformed-coding = Der Inhalt der Anfrage wird auf eine Art gesendet, die diese Website nicht annimmt.
malformed-request = Die Adresse oder die Kopfzeilen dieser Anfrage sind ungültig.
not-found-title = Nicht gefunden
not-found-text = Diese Seite gibt es nicht.
