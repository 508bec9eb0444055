{#-
  Per UTC day, per originator, objectType and action: how many changes, to how many objects,
  from when to when, and how many of them each kind of originator made. The objects are
  counted in two steps (per object first), which costs less than a count of distinct names.
-#}

with changes as (

    select * from {{ ref('stg_lp_audittrail__changes') }}

),

per_object as (

    select
        changed_on,
        originator,
        originator_login_name,
        object_type,
        action,
        object_name,
        count(*) as change_count,
        sum(case when originator_kind = 'person' then 1 else 0 end) as person_change_count,
        sum(case when originator_kind = 'lpa' then 1 else 0 end) as lpa_change_count,
        sum(case when originator_kind = 'automatic' then 1 else 0 end) as automatic_change_count,
        min(changed_at) as first_change_at,
        max(changed_at) as last_change_at
    from changes
    group by changed_on, originator, originator_login_name, object_type, action, object_name

)

select
    {{ lp_audittrail_key(['changed_on', 'originator', 'originator_login_name', 'object_type', 'action']) }} as daily_activity_id,
    changed_on as activity_date,
    originator,
    originator_login_name,
    object_type,
    action,
    sum(change_count) as change_count,
    count(object_name) as objects_changed,
    sum(person_change_count) as person_change_count,
    sum(lpa_change_count) as lpa_change_count,
    sum(automatic_change_count) as automatic_change_count,
    min(first_change_at) as first_change_at,
    max(last_change_at) as last_change_at
from per_object
group by changed_on, originator, originator_login_name, object_type, action
