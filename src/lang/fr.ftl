### Les textes de vestibule en français (vouvoiement). Espace insécable
### avant « : », espace fine insécable avant « ; ».

language-name = Français

## La page d’attente

waiting-title-place = Dans la file : place { $position }
waiting-title-next = Dans la file : c’est bientôt à vous
waiting-title-drawn = Dans la file : place tirée au sort à l’ouverture
waiting-heading = Vous êtes dans la file d’attente
waiting-why = { $order ->
    [arrival] Beaucoup de personnes essaient d’entrer en ce moment. Pour que le site reste disponible pour tout le monde, nous faisons entrer les visiteurs petit à petit, dans leur ordre d’arrivée.
    [drawn] Beaucoup de personnes essaient d’entrer en ce moment. Pour que le site reste disponible pour tout le monde, nous faisons entrer les visiteurs petit à petit, dans l’ordre tiré au sort à l’ouverture des portes.
   *[none] Beaucoup de personnes essaient d’entrer en ce moment. Pour que le site reste disponible pour tout le monde, nous faisons entrer les visiteurs petit à petit.
}
waiting-keep-open = Gardez cette page ouverte : elle vous fait avancer toute seule, et vous gardez votre place si vous la rechargez.
waiting-close = Si vous fermez cette page, votre place est conservée dans ce navigateur jusqu’à { $ticket } après votre arrivée dans la file : rouvrez cette adresse pour continuer. Si votre tour arrive pendant votre absence, revenez dans les { $turn } et vous entrerez à la prochaine place libre.
waiting-refreshing = Cette page s’actualise d’elle-même toutes les quelques secondes pour vous faire avancer.
waiting-stop-refreshing = Arrêter l’actualisation
waiting-still = Cette page ne s’actualise plus d’elle-même, et vous gardez votre place.
waiting-check-now = Voir ma place maintenant
waiting-refresh-again = Réactiver l’actualisation automatique
waiting-other-tab = Cette place dans la file est désormais suivie dans un autre onglet de ce navigateur : cet onglet a cessé de la vérifier. Vous pouvez le fermer.
waiting-follow-here = La suivre dans cet onglet
waiting-opens = Ouverture des portes : { $time }. Temps restant : { $left }. Vous êtes déjà dans la file : gardez cette page ouverte.
waiting-shuffle = À l’ouverture des portes, les places de toutes les personnes déjà dans la file sont tirées au sort : arriver tôt ou tard d’ici là ne change rien, et recharger la page ne change pas votre tirage. Les personnes arrivées après l’ouverture se placent derrière.
waiting-place-label = Votre place dans la file
waiting-place-next = la prochaine
waiting-place-drawn = tirée au sort à l’ouverture
waiting-ahead = { $count ->
    [0] Personne devant vous
    [one] { $count } personne devant vous
    [many] { $count } de personnes devant vous
   *[other] { $count } personnes devant vous
}
waiting-eta-label = Attente estimée
waiting-updated = Dernière mise à jour : { $time }.
waiting-estimate-source = L’estimation vient de la vitesse à laquelle la file a avancé ces dernières minutes ou, avant qu’elle ait bougé, des réglages de la salle.
waiting-languages = Langue
waiting-plain = Vous êtes dans la file d’attente. Votre place : { $place }. Cette page se met à jour toute seule.

## L’attente estimée

eta-measuring = calcul en cours…
eta-few-seconds = quelques secondes
eta-under-minute = moins d’une minute
eta-minutes = { $minutes ->
    [one] environ { $minutes } minute
   *[other] environ { $minutes } minutes
}
eta-hours = environ { $hours } h { $minutes } min
eta-paused = les entrées sont suspendues pour le moment ; vous gardez votre place
eta-draw = connue une fois les places tirées au sort, à l’ouverture des portes

## Durées, en toutes lettres

time-hours = { $n ->
    [one] { $n } heure
   *[other] { $n } heures
}
time-minutes = { $n ->
    [one] { $n } minute
   *[other] { $n } minutes
}
time-seconds = { $n ->
    [one] { $n } seconde
   *[other] { $n } secondes
}

## Le champ `message` du JSON d’état, pour les applications

status-queued = Votre place dans la file : { $position }. Attente estimée : { $eta }
status-next = C’est bientôt à vous : une place se libère pour vous dans quelques secondes.
status-prequeue = Ouverture des portes : { $time }. Votre place dans la file : { $position }.
status-prequeue-drawn = Ouverture des portes : { $time }. Les places sont tirées au sort à l’ouverture.
status-admitted = C’est à vous : rouvrez la page pour continuer.
status-closed = Accès fermé : { $room }.

## Pages courtes : erreurs et refus

message-retry = { $seconds ->
    [one] Vous pourrez réessayer dans { $seconds } seconde.
   *[other] Vous pourrez réessayer dans { $seconds } secondes.
}
message-try-again = Réessayer
closed-title = Accès fermé : { $room }
closed-text = Ce n’est pas ouvert pour le moment.
closed-not-sent = Rien n’a été envoyé.
refused-title = Vous êtes dans la file d’attente
refused-text = Votre demande n’a pas été transmise au site : vous êtes dans la file, et le site accueille les visiteurs à tour de rôle. Rien n’a été envoyé. Pour garder votre place, rouvrez cette adresse.
unavailable-title = Merci de patienter un instant
unavailable-text = La salle d’attente reprend son souffle. Si vous avez déjà une place dans la file, vous la gardez ; réessayez dans un instant.
timeout-title = Le site met trop de temps à répondre
timeout-text = Le site n’a pas répondu à temps. Veuillez réessayer dans un instant.
unreachable-title = Le site est injoignable
unreachable-text = Impossible de joindre le site. Veuillez réessayer dans un instant.
incomplete-title = La demande était incomplète
incomplete-slow = Votre navigateur a mis trop de temps à envoyer la demande. Veuillez réessayer.
incomplete-cut = Votre navigateur n’a pas envoyé la demande en entier. Veuillez réessayer.
malformed-title = Cette demande ne peut pas être traitée
malformed-coding = Le contenu de la demande est envoyé d’une manière que ce site n’accepte pas.
malformed-request = L’adresse ou les en-têtes de cette demande ne sont pas valides.
not-found-title = Page introuvable
not-found-text = Cette page n’existe pas.
