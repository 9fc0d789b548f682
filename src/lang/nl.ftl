### De teksten van vestibule in het Nederlands (met „u”).

language-name = Nederlands

## De wachtpagina

waiting-title-place = In de rij: plaats { $position }
waiting-title-next = In de rij: bijna aan de beurt
waiting-title-drawn = In de rij: plaats wordt bij de opening geloot
waiting-heading = U staat in de rij
waiting-why = { $order ->
    [arrival] Er proberen nu heel veel mensen binnen te komen. Om de site voor iedereen bereikbaar te houden, laten we bezoekers met een paar tegelijk binnen, in de volgorde waarin ze zijn aangekomen.
    [drawn] Er proberen nu heel veel mensen binnen te komen. Om de site voor iedereen bereikbaar te houden, laten we bezoekers met een paar tegelijk binnen, in de volgorde die bij de opening is geloot.
   *[none] Er proberen nu heel veel mensen binnen te komen. Om de site voor iedereen bereikbaar te houden, laten we bezoekers met een paar tegelijk binnen.
}
waiting-keep-open = Houd deze pagina open: u schuift vanzelf op, en u houdt uw plaats als u de pagina opnieuw laadt.
waiting-close = Als u deze pagina sluit, houdt u in deze browser uw plaats tot { $ticket } nadat u in de rij bent gaan staan: open dit adres opnieuw om verder te gaan. Bent u aan de beurt terwijl u weg bent, kom dan binnen { $turn } terug; u wordt dan binnengelaten op de eerstvolgende vrije plaats.
waiting-refreshing = Deze pagina ververst zichzelf om de paar seconden, zodat u opschuift.
waiting-stop-refreshing = Verversen stoppen
waiting-still = Deze pagina ververst zichzelf niet meer, en u houdt uw plaats.
waiting-check-now = Mijn plaats nu bekijken
waiting-refresh-again = Weer vanzelf verversen
waiting-other-tab = Deze plaats in de rij wordt nu gevolgd in een ander tabblad van deze browser; dit tabblad kijkt niet meer. U kunt het sluiten.
waiting-follow-here = In dit tabblad volgen
waiting-opens = Openingstijd: { $time }. Resterende tijd: { $left }. U staat al in de rij: houd deze pagina open.
waiting-shuffle = Bij de opening worden de plaatsen van iedereen die dan al in de rij staat geloot: vroeg of laat aansluiten maakt tot dan geen verschil, en de pagina opnieuw laden verandert niets aan uw loting. Wie na de opening komt, sluit achteraan aan.
waiting-place-label = Uw plaats in de rij
waiting-place-next = als volgende
waiting-place-drawn = wordt bij de opening geloot
waiting-ahead = { $count ->
    [0] Niemand voor u
    [one] { $count } persoon voor u
   *[other] { $count } personen voor u
}
waiting-eta-label = Geschatte wachttijd
waiting-updated = Laatst bijgewerkt: { $time }.
waiting-estimate-source = De schatting is gebaseerd op hoe snel de rij de laatste minuten is opgeschoven, of, zolang de rij nog niet heeft bewogen, op de instellingen van de ruimte.
waiting-languages = Taal
waiting-plain = U staat in de rij. Uw plaats: { $place }. Deze pagina ververst vanzelf.

## De geschatte wachttijd

eta-measuring = wordt berekend…
eta-few-seconds = een paar seconden
eta-under-minute = minder dan een minuut
eta-minutes = { $minutes ->
    [one] ongeveer { $minutes } minuut
   *[other] ongeveer { $minutes } minuten
}
eta-hours = ongeveer { $hours } u { $minutes } min
eta-paused = de toegang is tijdelijk gepauzeerd; u houdt uw plaats
eta-draw = bekend zodra de plaatsen bij de opening zijn geloot

## Tijdsduren, uitgeschreven

time-hours = { $n ->
    [one] { $n } uur
   *[other] { $n } uur
}
time-minutes = { $n ->
    [one] { $n } minuut
   *[other] { $n } minuten
}
time-seconds = { $n ->
    [one] { $n } seconde
   *[other] { $n } seconden
}

## Het veld `message` in de status-JSON, voor apps

status-queued = Uw plaats in de rij: { $position }. Geschatte wachttijd: { $eta }
status-next = U bent bijna aan de beurt: over een paar seconden komt er een plaats voor u vrij.
status-prequeue = Openingstijd: { $time }. Uw plaats in de rij: { $position }.
status-prequeue-drawn = Openingstijd: { $time }. De plaatsen worden bij de opening geloot.
status-admitted = U bent aan de beurt: open de pagina opnieuw om verder te gaan.
status-closed = { $room } is gesloten.

## Korte pagina's: fouten en weigeringen

message-retry = { $seconds ->
    [one] U kunt het over { $seconds } seconde opnieuw proberen.
   *[other] U kunt het over { $seconds } seconden opnieuw proberen.
}
message-try-again = Opnieuw proberen
closed-title = { $room } is gesloten
closed-text = Het is nu niet open.
closed-not-sent = Er is niets verzonden.
refused-title = U staat in de rij
refused-text = Uw verzoek is niet naar de site gestuurd: u staat in de rij, en de site laat bezoekers op volgorde binnen. Er is niets verzonden. Open dit adres opnieuw om uw plaats te houden.
unavailable-title = Een ogenblik geduld
unavailable-text = De wachtruimte heeft even tijd nodig. Een plaats die u al in de rij hebt, houdt u; probeer het zo opnieuw.
timeout-title = De site reageert te traag
timeout-text = De site heeft niet op tijd geantwoord. Probeer het zo nog eens.
unreachable-title = De site is niet bereikbaar
unreachable-text = De site kon niet worden bereikt. Probeer het zo nog eens.
incomplete-title = Het verzoek was onvolledig
incomplete-slow = Uw browser deed te lang over het versturen van het verzoek. Probeer het opnieuw.
incomplete-cut = Uw browser heeft het verzoek niet volledig verstuurd. Probeer het opnieuw.
malformed-title = Dit verzoek kan niet worden verwerkt
malformed-coding = De inhoud van het verzoek wordt verstuurd op een manier die deze site niet accepteert.
malformed-request = Het adres of de headers van dit verzoek zijn ongeldig.
not-found-title = Niet gevonden
not-found-text = Deze pagina bestaat niet.
